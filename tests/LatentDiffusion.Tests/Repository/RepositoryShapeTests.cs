using System.Text.RegularExpressions;
using LatentDiffusion.Tests.Examples;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace LatentDiffusion.Tests.Repository;

/// <summary>
/// The shape of the code a reader meets (issue 41): files named after their types, namespaces that follow folders,
/// methods a reader can hold, lines a reviewer can read, and a README layout that matches the tree. The edges between
/// layers are checked from compiled code in <see cref="ArchitectureTests"/>.
/// </summary>
public class RepositoryShapeTests
{
    /// <summary>Every project folder whose layout is held to these rules: the libraries and the example app.</summary>
    private static string[] Sources() => [.. ProjectSources.Shaped.Select(p => p.Root)];

    private static IEnumerable<string> SourceFiles(string source) => ProjectSources.Shaped.Single(p => p.Root == source).Files;

    [Fact]
    public void No_method_is_longer_than_a_reader_can_hold()
    {
        const int Longest = 60;
        var longMethods = ProjectSources.Shaped.SelectMany(p => p.Files)
            .SelectMany(f => CSharpSyntaxTree.ParseText(File.ReadAllText(f), path: f).GetRoot().DescendantNodes()
                .Where(n => n is BaseMethodDeclarationSyntax or LocalFunctionStatementSyntax or AccessorDeclarationSyntax)
                .Select(n => (f, n, span: n.GetLocation().GetLineSpan())))
            .Select(x => (x.f, x.n, x.span, lines: x.span.EndLinePosition.Line - x.span.StartLinePosition.Line + 1))
            .Where(x => x.lines > Longest)
            .Select(x => $"{ProjectSources.Relative(x.f)}:{x.span.StartLinePosition.Line + 1}: {x.lines} lines")
            .ToList();
        Assert.True(longMethods.Count == 0, $"Methods over {Longest} lines:\n" + string.Join("\n", longMethods));
    }

    [Fact]
    public void Namespaces_follow_folders()
    {
        // The one exception: ML.NET's catalog extensions live in Microsoft.ML, where ML.NET users look for them.
        var wrong = ProjectSources.Shaped.SelectMany(p => p.Files.Select(f => (p, f)))
            .Select(x => (x.f, expected: Expected(x.p, x.f), actual: CSharpSyntaxTree.ParseText(File.ReadAllText(x.f)).GetRoot()
                .DescendantNodes().OfType<BaseNamespaceDeclarationSyntax>().FirstOrDefault()?.Name.ToString()))
            .Where(x => x.actual != x.expected && !(x.actual == "Microsoft.ML" && x.f.EndsWith("Catalog.cs", StringComparison.Ordinal)))
            .Where(x => !(x.actual is null && Path.GetFileName(x.f) == "Program.cs"))
            .Select(x => $"{ProjectSources.Relative(x.f)}: namespace {x.actual ?? "(none)"}, expected {x.expected}")
            .ToList();
        Assert.True(wrong.Count == 0, "Namespaces that do not follow the folder:\n" + string.Join("\n", wrong));
    }

    private static string Expected(ProjectSources project, string file)
    {
        var folders = Path.GetRelativePath(project.Root, Path.GetDirectoryName(file)!).Split(Path.DirectorySeparatorChar).Where(d => d != ".");
        return string.Join(".", folders.Prepend(project.RootNamespace));
    }

    private static readonly Regex Declaration = new(
        @"^(?:public|internal|file)\s+(?:(?:static|sealed|abstract|readonly|partial)\s+)*(?:class|record struct|record|enum|interface|struct)\s+(\w+)",
        RegexOptions.Compiled | RegexOptions.Multiline);

    [Fact]
    public void Every_source_file_is_named_after_a_type_it_declares()
    {
        // The one exception: an MSBuild task compiled from this path by the package's build targets, which name its class.
        // And the example app's top-level program.
        string[] exempt = [Path.Combine("Runtime", "ElfVersionNeedPatcher.cs"), "Program.cs"];
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
        // A path with a <placeholder> names a file to add, not one that exists.
        var named = Regex.Matches(layout, @"`((?:src|tests|examples|docs|nuget)/[^`<]*)`").Select(m => m.Groups[1].Value.TrimEnd('/')).ToHashSet();
        var missing = named.Where(p => !File.Exists(Path.Combine(root, p)) && !Directory.Exists(Path.Combine(root, p))).ToList();
        Assert.True(missing.Count == 0, "The layout names paths that do not exist:\n" + string.Join("\n", missing));
        // The folders that hold code: the layout names each, so a reader knows where a new file goes.
        var folders = Sources().SelectMany(SourceFiles).Select(f => ProjectSources.Relative(Path.GetDirectoryName(f)!)).Distinct().ToList();
        Assert.Contains("src/LatentDiffusion/Models/Vae", folders);
        Assert.Contains("src/LatentDiffusion.Onnx/Onnx", folders);
        Assert.Contains("examples/MnistLatentDiffusion/Jobs", folders);
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
            .Where(f => Path.GetFileName(f) != "RepositoryShapeTests.cs")
            .Where(f => needsMnist.IsMatch(File.ReadAllText(f)) && !File.ReadAllText(f).Contains("[Trait(\"Data\", \"MNIST\")]"))
            .Select(f => Path.GetRelativePath(tests, f))
            .ToList();
        Assert.True(unmarked.Count == 0, "Test files that use MNIST without the Data=MNIST trait:\n" + string.Join("\n", unmarked));
    }
}
