using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using Microsoft.CodeAnalysis;

namespace LatentDiffusion.Tests.Repository;

/// <summary>
/// The allowed edges, read from compiled code (issue 41). The assemblies' references and internals come from the built
/// files beside the tests; which namespace uses which comes from the binder over each project's sources (the IL alone
/// would miss constants: they are folded into numbers). Each rule says in its name what it keeps.
/// </summary>
public class ArchitectureTests
{
    private const string Tests = "LatentDiffusion.Tests";

    /// <summary>One rule: its reason, and the uses it forbids.</summary>
    public sealed record Rule(string Reason, Func<SymbolUse, bool> Forbids)
    {
        public override string ToString() => Reason;
    }

    /// <summary>ML.NET's own namespaces (ONNX Runtime ships under Microsoft.ML.OnnxRuntime and is not ML.NET).</summary>
    private static bool IsMLNet(SymbolUse u) => u.ToAssembly.StartsWith("Microsoft.ML", StringComparison.Ordinal)
        && !u.ToNamespace.StartsWith("Microsoft.ML.OnnxRuntime", StringComparison.Ordinal);

    private static bool Under(string ns, string root) => ns == root || ns.StartsWith(root + ".", StringComparison.Ordinal);

    /// <summary>The ML.NET layer of the libraries: the components and their plumbing, and the catalogs (which ML.NET wants in Microsoft.ML).</summary>
    private static bool InMLNetLayer(string ns) => Under(ns, "LatentDiffusion.MLNet") || ns == "Microsoft.ML";

    private static readonly string[] Components =
        ["LatentDiffusion.MLNet.Autoencoder", "LatentDiffusion.MLNet.Denoising", "LatentDiffusion.MLNet.Generation",
            "LatentDiffusion.MLNet.Evaluation", "LatentDiffusion.MLNet.Formats"];

    private static readonly string[] BelowTheModels =
        ["LatentDiffusion.Training", "LatentDiffusion.Runtime", "LatentDiffusion.Data", "LatentDiffusion.Metrics"];

    private static readonly string[] AppBelowTheCommands =
        ["MnistLatentDiffusion.Jobs", "MnistLatentDiffusion.Benchmarks", "MnistLatentDiffusion.Reports"];

    public static readonly Rule[] LibraryRules =
    [
        new("Outside the ML.NET layer nothing names ML.NET or the ML.NET layer (but ModelFileException, which the plain ONNX API throws too)",
            u => !InMLNetLayer(u.FromNamespace) && (IsMLNet(u) || Under(u.ToNamespace, "LatentDiffusion.MLNet"))
                && u.ToSymbol != "LatentDiffusion.MLNet.ModelFileException"),
        new("The persistence plumbing names no component that saves through it",
            u => Under(u.FromNamespace, "LatentDiffusion.MLNet.Persistence")
                && (Components.Any(c => Under(u.ToNamespace, c)) || u.ToAssembly == "LatentDiffusion.Onnx" && u.ToNamespace == "LatentDiffusion.MLNet")),
        new("The algorithm (LatentDiffusion.Diffusion) knows no file format, export or ML.NET layer",
            u => Under(u.FromNamespace, "LatentDiffusion.Diffusion")
                && new[] { "LatentDiffusion.IO", "LatentDiffusion.Export", "LatentDiffusion.MLNet" }.Any(n => Under(u.ToNamespace, n))),
        new("Training, runtime, data and metrics sit below the networks, the diffusion and the export",
            u => BelowTheModels.Any(n => Under(u.FromNamespace, n))
                && new[] { "LatentDiffusion.Models", "LatentDiffusion.Diffusion", "LatentDiffusion.Export" }.Any(n => Under(u.ToNamespace, n))),
    ];

    public static readonly Rule[] AppRules =
    [
        new("The reports render JSON and pictures: no TorchSharp, no ML.NET, no other part of the app",
            u => u.FromNamespace == "MnistLatentDiffusion.Reports"
                && (u.ToAssembly == "TorchSharp" || IsMLNet(u) || Under(u.ToNamespace, "MnistLatentDiffusion") && u.ToNamespace != u.FromNamespace)),
        new("Jobs, benchmarks and reports run without a command line: no System.CommandLine, no command",
            u => AppBelowTheCommands.Contains(u.FromNamespace)
                && (u.ToAssembly == "System.CommandLine" || Under(u.ToNamespace, "MnistLatentDiffusion.Commands"))),
    ];

    public static TheoryData<string> Projects() => [.. ProjectSources.All.Select(p => p.Name)];

    [Theory]
    [MemberData(nameof(Projects))]
    public void Every_use_in_the_code_keeps_the_allowed_edges(string project)
    {
        var sources = ProjectSources.All.Single(p => p.Name == project);
        var uses = SymbolUse.Of(sources);
        Assert.True(uses.Count > 100, $"{project}: only {uses.Count} uses were bound; the binder did not see the code.");
        var rules = sources == ProjectSources.App ? AppRules : LibraryRules;
        var broken = rules.SelectMany(rule => uses.Where(rule.Forbids).Select(u => $"{rule}: {u}")).ToList();
        Assert.True(broken.Count == 0, $"{project} breaks {broken.Count} edges:\n" + string.Join("\n", broken.Take(40)));
    }

    [Fact]
    public void A_planted_constant_of_the_ml_net_layer_in_a_file_helper_is_caught()
    {
        // The edge of issue 41: IO/WeightArchive took its size limit from MLNetInternals. A constant leaves no trace in
        // the IL; the binder sees it.
        var core = ProjectSources.Core;
        string path = Path.Combine(core.Root, "IO", "Planted.cs");
        var planted = core.Parse("""
            namespace LatentDiffusion.IO;

            internal static class Planted
            {
                public const int Limit = LatentDiffusion.MLNet.Persistence.MLNetInternals.MaxPayloadBytes;
            }
            """, path);
        var compilation = core.Compilation.AddSyntaxTrees(planted);
        Assert.Empty(compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error));
        var uses = SymbolUse.Of(compilation, new HashSet<string> { path });
        var caught = uses.Where(LibraryRules[0].Forbids).ToList();
        Assert.Contains(caught, u => u.ToSymbol == "LatentDiffusion.MLNet.Persistence.MLNetInternals.MaxPayloadBytes" && u.Line == 5);
    }

    [Fact]
    public void A_planted_command_line_use_in_a_job_is_caught()
    {
        var app = ProjectSources.App;
        string path = Path.Combine(app.Root, "Jobs", "Planted.cs");
        var planted = app.Parse("""
            namespace MnistLatentDiffusion.Jobs;

            internal static class Planted
            {
                public static object Option() => new System.CommandLine.Option<int>("--planted");
            }
            """, path);
        var compilation = app.Compilation.AddSyntaxTrees(planted);
        Assert.Empty(compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error));
        Assert.Contains(SymbolUse.Of(compilation, new HashSet<string> { path }), u => AppRules[1].Forbids(u));
    }

    [Theory]
    [InlineData("LatentDiffusion.Core", "Microsoft.ML.Core", "TorchSharp,Microsoft.ML.OnnxRuntime,LatentDiffusion,LatentDiffusion.Onnx")]
    [InlineData("LatentDiffusion", "LatentDiffusion.Core,TorchSharp", "LatentDiffusion.Onnx")]
    [InlineData("LatentDiffusion.Onnx", "LatentDiffusion.Core,Microsoft.ML.OnnxRuntime", "TorchSharp,LatentDiffusion")]
    public void Each_shipped_assembly_references_its_engine_and_the_core_and_not_the_other_engine(string assembly, string required, string forbidden)
    {
        var references = Read(assembly, r => r.AssemblyReferences.Select(h => r.GetString(r.GetAssemblyReference(h).Name)).ToList());
        foreach (var name in required.Split(',')) Assert.Contains(name, references);
        var wrong = references.Where(r => forbidden.Split(',').Any(f => r == f || r.StartsWith(f + ".", StringComparison.Ordinal) && f != "LatentDiffusion")).ToList();
        Assert.True(wrong.Count == 0, $"{assembly} references {string.Join(", ", wrong)}");
    }

    [Fact]
    public void No_shipped_assembly_opens_its_internals_to_another()
    {
        foreach (var assembly in ProjectSources.Shipped.Select(p => p.Name))
        {
            var friends = Read(assembly, InternalsVisibleTo);
            // The tests are the one friend; without it the check would prove nothing about the attribute's reading.
            Assert.Equal([Tests], friends);
        }
        Assert.DoesNotContain(Tests, Read(ProjectSources.App.Name, InternalsVisibleTo));
    }

    private static List<string> InternalsVisibleTo(MetadataReader reader) => [.. reader.GetAssemblyDefinition().GetCustomAttributes()
        .Select(reader.GetCustomAttribute)
        .Where(a => AttributeName(reader, a) == "InternalsVisibleToAttribute")
        .Select(a =>
        {
            var blob = reader.GetBlobReader(a.Value);
            blob.ReadUInt16(); // the prolog, 0x0001
            return blob.ReadSerializedString()!;
        })];

    private static string AttributeName(MetadataReader reader, CustomAttribute attribute) => attribute.Constructor.Kind switch
    {
        HandleKind.MemberReference when reader.GetMemberReference((MemberReferenceHandle)attribute.Constructor).Parent is var parent
            && parent.Kind == HandleKind.TypeReference => reader.GetString(reader.GetTypeReference((TypeReferenceHandle)parent).Name),
        HandleKind.MethodDefinition => reader.GetString(reader.GetTypeDefinition(reader.GetMethodDefinition(
            (MethodDefinitionHandle)attribute.Constructor).GetDeclaringType()).Name),
        _ => "",
    };

    private static T Read<T>(string assembly, Func<MetadataReader, T> read)
    {
        using var pe = new PEReader(File.OpenRead(Path.Combine(AppContext.BaseDirectory, assembly + ".dll")));
        return read(pe.GetMetadataReader());
    }
}
