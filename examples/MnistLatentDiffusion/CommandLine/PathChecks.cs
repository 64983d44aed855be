namespace MnistLatentDiffusion.CommandLine;

/// <summary>Checks of paths given on the command line, made before any long work starts; none of them creates anything.</summary>
internal static class PathChecks
{
    public static string ExistingFile(string path, string option)
    {
        if (Directory.Exists(path)) throw new CommandLineException($"{option} '{path}' is a folder; give a file.");
        if (!File.Exists(path)) throw new CommandLineException($"{option} '{path}': no such file (looked in {Path.GetFullPath(path)}).");
        return Path.GetFullPath(path);
    }

    public static string ExistingFolder(string path, string option)
    {
        if (!Directory.Exists(path)) throw new CommandLineException($"{option} '{path}': no such folder (looked in {Path.GetFullPath(path)}).");
        return Path.GetFullPath(path);
    }

    /// <summary>A folder that files can be written into: it exists and takes a file, or its nearest existing parent does (it is not created here).</summary>
    public static string WritableFolder(string path, string option)
    {
        string full = Path.GetFullPath(path);
        if (File.Exists(full)) throw new CommandLineException($"{option} '{path}' is a file; give a folder.");
        if (FolderProblem(full) is { } problem) throw new CommandLineException($"{option} '{path}' cannot be written: {problem}.");
        return full;
    }

    public static string WritableFile(string path, string option)
    {
        string full = Path.GetFullPath(path);
        if (Directory.Exists(full)) throw new CommandLineException($"{option} '{path}' is a folder; give a file name.");
        if (FolderProblem(Path.GetDirectoryName(full)!) is { } problem) throw new CommandLineException($"{option} '{path}' cannot be written: {problem}.");
        return full;
    }

    /// <summary>Why files cannot be written into <paramref name="folder"/> (an absolute path), or null when they can.</summary>
    private static string? FolderProblem(string folder)
    {
        var existing = new DirectoryInfo(folder);
        while (!existing.Exists)
        {
            // A file where a folder of the path should be: nothing could ever be written below it.
            if (File.Exists(existing.FullName)) return $"{existing.FullName} is a file, not a folder";
            existing = existing.Parent!;
            if (existing is null) return "no part of the path exists";
        }
        string probe = Path.Combine(existing.FullName, $".write-check-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            File.WriteAllBytes(probe, []);
            File.Delete(probe);
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"{existing.FullName} does not accept files ({e.Message})";
        }
    }
}
