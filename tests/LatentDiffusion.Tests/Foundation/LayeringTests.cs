using System.Text.RegularExpressions;
using LatentDiffusion.Tests.CommandLine;

namespace LatentDiffusion.Tests.Foundation;

/// <summary>
/// The engine (networks, diffusion, training, metrics, data, file and runtime helpers) knows nothing of ML.NET: only
/// <c>src/LatentDiffusion/MLNet</c> may name <c>Microsoft.ML</c> or <c>LatentDiffusion.MLNet</c> (issue 27).
/// </summary>
public class LayeringTests
{
    private static readonly string[] EngineFolders = ["Models", "Diffusion", "Training", "Metrics", "Data", "IO", "Runtime"];
    private static readonly Regex MLNet = new(@"\b(Microsoft\.ML|LatentDiffusion\.MLNet)\b", RegexOptions.Compiled);

    [Fact]
    public void No_engine_folder_references_ml_net_or_the_ml_net_layer()
    {
        string source = Path.Combine(CommandLineTests.RepositoryRoot(), "src", "LatentDiffusion");
        var offenders = EngineFolders
            .SelectMany(folder => Directory.EnumerateFiles(Path.Combine(source, folder), "*.cs", SearchOption.AllDirectories))
            .SelectMany(file => File.ReadLines(file).Select((line, i) => (file, line, i)))
            .Where(x => !x.line.TrimStart().StartsWith("//", StringComparison.Ordinal) && !x.line.TrimStart().StartsWith("///", StringComparison.Ordinal) && MLNet.IsMatch(x.line))
            .Select(x => $"{Path.GetRelativePath(source, x.file)}:{x.i + 1}: {x.line.Trim()}")
            .ToList();
        Assert.True(offenders.Count == 0, "The engine references ML.NET:\n" + string.Join("\n", offenders));
        // The test can fail: the ML.NET layer itself is full of such references.
        Assert.Contains(Directory.EnumerateFiles(Path.Combine(source, "MLNet"), "*.cs"), f => File.ReadLines(f).Any(MLNet.IsMatch));
    }
}
