using System.Text.RegularExpressions;
using LatentDiffusion.Tests.Examples;

namespace LatentDiffusion.Tests.Repository;

/// <summary>
/// The engine (networks, diffusion, training, metrics, data, file and runtime helpers) knows nothing of ML.NET: only
/// <c>src/LatentDiffusion/MLNet</c> may name <c>Microsoft.ML</c> or <c>LatentDiffusion.MLNet</c> (issue 27).
/// </summary>
public class LayeringTests
{
    private static readonly string[] EngineFolders = ["Models", "Diffusion", "Training", "Metrics", "Data", "IO", "Runtime"];
    private static readonly Regex MLNet = new(@"\b(Microsoft\.ML|LatentDiffusion\.MLNet)\b", RegexOptions.Compiled);

    /// <summary>Both libraries: the full one and the ONNX Runtime one it builds on.</summary>
    private static string[] Sources() =>
        new[] { "LatentDiffusion", "LatentDiffusion.Onnx" }.Select(p => Path.Combine(CommandLineTests.RepositoryRoot(), "src", p)).ToArray();

    private static IEnumerable<string> SourceFiles(string source) => Directory.EnumerateFiles(source, "*.cs", SearchOption.AllDirectories)
        .Where(f => !Path.GetRelativePath(source, f).StartsWith("obj", StringComparison.Ordinal)
            && !Path.GetRelativePath(source, f).StartsWith("bin", StringComparison.Ordinal));

    [Fact]
    public void The_onnx_runtime_library_never_names_torchsharp()
    {
        // A consumer of LatentDiffusion.Onnx must not carry libtorch: no reference, no using, no type.
        string source = Sources()[1];
        var torch = new Regex(@"\bTorchSharp[.\-""]|\btorch\.", RegexOptions.Compiled);
        var offenders = SourceFiles(source).Append(Path.Combine(source, "LatentDiffusion.Onnx.csproj"))
            .SelectMany(file => File.ReadLines(file).Select((line, i) => (file, line, i)))
            .Where(x => !x.line.TrimStart().StartsWith("//", StringComparison.Ordinal) && !x.line.TrimStart().StartsWith("<!--", StringComparison.Ordinal)
                && torch.IsMatch(x.line))
            .Select(x => $"{Path.GetRelativePath(source, x.file)}:{x.i + 1}: {x.line.Trim()}")
            .ToList();
        Assert.True(offenders.Count == 0, "LatentDiffusion.Onnx names TorchSharp:\n" + string.Join("\n", offenders));
        Assert.Contains(File.ReadLines(Path.Combine(Sources()[0], "LatentDiffusion.csproj")), l => torch.IsMatch(l));
    }

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

    [Fact]
    public void The_persistence_layer_names_no_type_of_the_components_that_use_it()
    {
        // One direction: the components (MLNet/*.cs) save through Persistence/, which knows nothing of them.
        var mlnet = Sources().Select(s => Path.Combine(s, "MLNet")).ToArray();
        var componentTypes = mlnet.SelectMany(m => Directory.EnumerateFiles(m, "*.cs"))
            .SelectMany(f => Declaration.Matches(File.ReadAllText(f)).Select(m => m.Groups[1].Value))
            .ToHashSet();
        Assert.Contains("DigitGeneratorTransformer", componentTypes);
        Assert.Contains("OnnxGeneratorTransformer", componentTypes);
        var offenders = mlnet.SelectMany(m => Directory.EnumerateFiles(Path.Combine(m, "Persistence"), "*.cs"))
            .SelectMany(file => File.ReadLines(file).Select((line, i) => (file, line, i)))
            .Where(x => !x.line.TrimStart().StartsWith("//", StringComparison.Ordinal))
            .SelectMany(x => Regex.Matches(x.line, @"\b[A-Z]\w+\b").Select(m => m.Value).Where(componentTypes.Contains)
                .Select(type => $"{Path.GetFileName(x.file)}:{x.i + 1}: {type}"))
            .ToList();
        Assert.True(offenders.Count == 0, "Persistence names component types:\n" + string.Join("\n", offenders));
    }

    private static readonly Regex Declaration = new(
        @"^(?:public|internal|file)\s+(?:(?:static|sealed|abstract|readonly|partial)\s+)*(?:class|record struct|record|enum|interface|struct)\s+(\w+)",
        RegexOptions.Compiled | RegexOptions.Multiline);

    [Fact]
    public void Every_source_file_is_named_after_a_type_it_declares()
    {
        // The one exception: an MSBuild task compiled from this path by the package's build targets, which name its class.
        string[] exempt = [Path.Combine("Runtime", "ElfVersionNeedPatcher.cs")];
        var misnamed = Sources().SelectMany(source => SourceFiles(source).Select(f => (source, file: Path.GetRelativePath(source, f))))
            .Where(x => !exempt.Contains(x.file))
            .Where(x => !Declaration.Matches(File.ReadAllText(Path.Combine(x.source, x.file))).Select(m => m.Groups[1].Value)
                .Contains(Path.GetFileNameWithoutExtension(x.file)))
            .Select(x => Path.Combine(Path.GetFileName(x.source), x.file))
            .ToList();
        Assert.True(misnamed.Count == 0, "Files not named after a type they declare:\n" + string.Join("\n", misnamed));
    }

    [Fact]
    public void The_readme_layout_names_every_source_folder_and_only_paths_that_exist()
    {
        string root = CommandLineTests.RepositoryRoot();
        string readme = File.ReadAllText(Path.Combine(root, "README.md"));
        int start = readme.IndexOf("## Repository layout", StringComparison.Ordinal);
        Assert.True(start >= 0, "README.md has no 'Repository layout' section");
        int end = readme.IndexOf("\n## ", start + 3, StringComparison.Ordinal);
        string layout = readme[start..(end < 0 ? readme.Length : end)];
        var named = Regex.Matches(layout, @"`((?:src|tests|examples|docs|nuget)/[^`]*)`").Select(m => m.Groups[1].Value.TrimEnd('/')).ToHashSet();
        var missing = named.Where(p => !File.Exists(Path.Combine(root, p)) && !Directory.Exists(Path.Combine(root, p))).ToList();
        Assert.True(missing.Count == 0, "The layout names paths that do not exist:\n" + string.Join("\n", missing));
        var folders = Sources().SelectMany(source => Directory.EnumerateDirectories(source, "*", SearchOption.AllDirectories).Prepend(source))
            .Select(d => Path.GetRelativePath(root, d).Replace(Path.DirectorySeparatorChar, '/'))
            .Where(d => !d.Contains("/bin") && !d.Contains("/obj") && !d.EndsWith("buildTransitive", StringComparison.Ordinal))
            .ToList();
        Assert.Contains("src/LatentDiffusion/Models/Vae", folders);
        Assert.Contains("src/LatentDiffusion.Onnx/Onnx", folders);
        var unnamed = folders.Where(d => !named.Contains(d)).ToList();
        Assert.True(unnamed.Count == 0, "The layout does not name these source folders:\n" + string.Join("\n", unnamed));
    }

    [Fact]
    public void No_source_line_is_wider_than_a_reviewer_can_read()
    {
        const int Widest = 160;
        var wide = Sources().SelectMany(SourceFiles)
            .SelectMany(f => File.ReadLines(f).Select((line, i) => (f, line, i)))
            .Where(x => x.line.Length > Widest)
            .Select(x => $"{Path.GetRelativePath(CommandLineTests.RepositoryRoot(), x.f)}:{x.i + 1}: {x.line.Length} characters")
            .ToList();
        Assert.True(wide.Count == 0, $"Lines over {Widest} characters:\n" + string.Join("\n", wide));
    }

    [Fact]
    public void Every_test_class_that_loads_mnist_carries_the_mnist_trait()
    {
        // So that `dotnet test --filter "Data!=MNIST"` runs only tests that need neither MNIST nor a model trained on it.
        var needsMnist = new Regex(@"LoadMnist|TinyModels|MnistSplit|MainJob|\bApp\(", RegexOptions.Compiled);
        string tests = Path.Combine(CommandLineTests.RepositoryRoot(), "tests", "LatentDiffusion.Tests");
        var unmarked = Directory.EnumerateFiles(tests, "*Tests.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}"))
            // This file names them only in the pattern above.
            .Where(f => Path.GetFileName(f) != "LayeringTests.cs")
            .Where(f => needsMnist.IsMatch(File.ReadAllText(f)) && !File.ReadAllText(f).Contains("[Trait(\"Data\", \"MNIST\")]"))
            .Select(f => Path.GetRelativePath(tests, f))
            .ToList();
        Assert.True(unmarked.Count == 0, "Test files that use MNIST without the Data=MNIST trait:\n" + string.Join("\n", unmarked));
    }
}
