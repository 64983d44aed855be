using System.Collections.Concurrent;
using System.Reflection.PortableExecutable;
using LatentDiffusion.Tests.Examples;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace LatentDiffusion.Tests.Repository;

/// <summary>
/// A project of this repository compiled again by Roslyn, as the build compiled it: its sources, the sources the build
/// generated (global usings, protobuf), and the assemblies the build put beside the tests as references. The binder
/// sees what the IL cannot: a constant of another namespace is folded into the IL as a number, but the binder knows
/// which field it named.
/// </summary>
/// <param name="Name">The project's (and assembly's) name.</param>
/// <param name="Folder">Its folder, relative to the repository root.</param>
/// <param name="RootNamespace">The namespace of files at the folder's top.</param>
public sealed record ProjectSources(string Name, string Folder, string RootNamespace)
{
    /// <summary>The shipped libraries and the example app.</summary>
    public static readonly ProjectSources Core = new("LatentDiffusion.Core", "src/LatentDiffusion.Core", "LatentDiffusion");
    public static readonly ProjectSources Engine = new("LatentDiffusion", "src/LatentDiffusion", "LatentDiffusion");
    public static readonly ProjectSources Onnx = new("LatentDiffusion.Onnx", "src/LatentDiffusion.Onnx", "LatentDiffusion");
    public static readonly ProjectSources App = new("MnistLatentDiffusion", "examples/MnistLatentDiffusion", "MnistLatentDiffusion");

    public static IReadOnlyList<ProjectSources> All { get; } = [Core, Engine, Onnx, App];

    /// <summary>The served generator and its load benchmark: held to the same shape (names, widths, lengths), not bound.</summary>
    public static readonly ProjectSources Server = new("DigitServer", "examples/DigitServer", "DigitServer");
    public static readonly ProjectSources ServeBench = new("ServeBench", "examples/ServeBench", "ServeBench");

    /// <summary>Every project whose sources the shape rules read.</summary>
    public static IReadOnlyList<ProjectSources> Shaped { get; } = [.. All, Server, ServeBench];

    public static IReadOnlyList<ProjectSources> Shipped { get; } = [Core, Engine, Onnx];

    private static readonly ConcurrentDictionary<string, Lazy<CSharpCompilation>> Compiled = new();

    public string Root => Path.Combine(CommandLineTests.RepositoryRoot(), Folder);

    /// <summary>The hand-written sources: every .cs under the folder but bin/ and obj/.</summary>
    public IEnumerable<string> Files => Directory.EnumerateFiles(Root, "*.cs", SearchOption.AllDirectories)
        .Where(f => Path.GetRelativePath(Root, f).Split(Path.DirectorySeparatorChar)[0] is not ("bin" or "obj"))
        .Order(StringComparer.Ordinal);

    /// <summary>The path of a file relative to the repository root, with forward slashes.</summary>
    public static string Relative(string path) => Path.GetRelativePath(CommandLineTests.RepositoryRoot(), path).Replace('\\', '/');

    /// <summary>The project compiled (once per test run), refused when it does not compile as the build did.</summary>
    public CSharpCompilation Compilation => Compiled.GetOrAdd(Name, _ => new Lazy<CSharpCompilation>(Compile)).Value;

    /// <summary>Parses a source as this project's build does (its language version and defined symbols).</summary>
    public SyntaxTree Parse(string text, string path) => CSharpSyntaxTree.ParseText(text, ParseOptions, path);

    private CSharpParseOptions ParseOptions => new(LanguageVersion.Latest,
        preprocessorSymbols: this == Engine ? ["LATENTDIFFUSION_LIBRARY", "RELEASE", "NET"] : ["RELEASE", "NET"]);

    private CSharpCompilation Compile()
    {
        // The build's generated sources live in obj/<configuration>/<framework>, as the test assembly in bin/ does.
        string testBin = AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar);
        string framework = Path.GetFileName(testBin), configuration = Path.GetFileName(Path.GetDirectoryName(testBin)!);
        string generated = Path.Combine(Root, "obj", configuration, framework);
        var sources = Files.Concat(Directory.EnumerateFiles(generated, "*.cs", SearchOption.AllDirectories)
            .Where(f => !Path.GetFileName(f).EndsWith("AssemblyAttributes.cs", StringComparison.Ordinal)));
        var trees = sources.Select(f => Parse(File.ReadAllText(f), f)).ToList();
        var compilation = CSharpCompilation.Create(Name, trees, References(), new CSharpCompilationOptions(
            this == App ? OutputKind.ConsoleApplication : OutputKind.DynamicallyLinkedLibrary,
            nullableContextOptions: NullableContextOptions.Enable, allowUnsafe: true));
        var errors = compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).Take(10).ToList();
        if (errors.Count > 0)
            throw new InvalidOperationException($"{Name} does not compile here as it did in the build:\n" + string.Join("\n", errors));
        return compilation;
    }

    /// <summary>
    /// The framework, and every managed assembly beside the tests except this project's own and those built on it
    /// (they would declare its types a second time).
    /// </summary>
    private IEnumerable<MetadataReference> References()
    {
        // The runtime's own assemblies only: the host's trusted list also names every assembly of the test's deps.json.
        string runtime = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        var framework = Directory.EnumerateFiles(runtime, "*.dll").Where(IsManaged).ToList();
        var frameworkNames = framework.Select(Path.GetFileName).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var excluded = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { Name + ".dll", "LatentDiffusion.Tests.dll" };
        if (this != App) excluded.Add(App.Name + ".dll");
        if (this == Core) excluded.UnionWith([Engine.Name + ".dll", Onnx.Name + ".dll"]);
        var beside = Directory.EnumerateFiles(AppContext.BaseDirectory, "*.dll")
            .Where(f => !frameworkNames.Contains(Path.GetFileName(f)) && !excluded.Contains(Path.GetFileName(f)) && IsManaged(f));
        return framework.Concat(beside).Select(f => MetadataReference.CreateFromFile(f));
    }

    private static bool IsManaged(string path)
    {
        using var pe = new PEReader(File.OpenRead(path));
        return pe.HasMetadata;
    }
}
