using System.Text.Json;
using Xunit.Abstractions;

namespace LatentDiffusion.Tests.Package;

/// <summary>
/// The ML.NET range the packages declare ([5.0.1, 7.0.0)), from both ends, as a downstream developer meets it. One app
/// takes what the package asks for (ML.NET 5.0.1); the other adds ML.NET's own TorchSharp integration,
/// Microsoft.ML.TorchSharp 0.24.0, and nothing else, which lifts ML.NET to 6.0.0. Both treat warnings as errors (a
/// pinned dependency would fail them with NU1608 or NU1107), run the README quickstart, then load both saved models and
/// generate the same requests: the model saved under either release loads under the other and gives the same images,
/// bit for bit (one machine computes every side). A third app names Microsoft.ML and Microsoft.ML.ImageAnalytics 6.0.0
/// itself and must restore with no warning.
/// </summary>
[Trait("Data", "MNIST")]
public class MLNetRangeTests(ITestOutputHelper output) : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("ld-mlnet-range-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private const string Strict = "<TreatWarningsAsErrors>true</TreatWarningsAsErrors>";

    /// <summary>Loads each model file named on the command line and prints a hash of the images of eight fixed requests.</summary>
    private const string Loader = """
        using System.Runtime.InteropServices;
        using System.Security.Cryptography;
        using LatentDiffusion.MLNet;
        using LatentDiffusion.MLNet.Generation;
        using Microsoft.ML;
        using Microsoft.ML.Data;

        var ml = new MLContext(seed: 1);
        ml.ComponentCatalog.RegisterLatentDiffusion();
        static string Release(Type type) => System.Reflection.CustomAttributeExtensions
            .GetCustomAttribute<System.Reflection.AssemblyInformationalVersionAttribute>(type.Assembly)!.InformationalVersion.Split('+')[0];
        Console.WriteLine($"ML.NET {Release(typeof(MLContext))}");
        foreach (string path in args)
        {
            var model = ml.Model.Load(path, out _);
            var requests = ml.Data.LoadFromEnumerable(Enumerable.Range(0, 8).Select(i => new GenerationRequest { Label = i % 10, Seed = 100 + i }));
            float[] pixels = [.. model.Transform(requests).GetColumn<float[]>("GeneratedImage").SelectMany(x => x)];
            string hash = Convert.ToHexString(SHA256.HashData(MemoryMarshal.AsBytes(pixels.AsSpan())));
            Console.WriteLine($"model {Path.GetFileName(Path.GetDirectoryName(Path.GetFullPath(path)))}: {pixels.Length} values, sha256 {hash}");
        }
        """;

    /// <summary>
    /// Lists the TorchSharp members that Microsoft.ML.TorchSharp (compiled against TorchSharp 0.102.7) refers to and
    /// the app's TorchSharp lacks: each member reference of its metadata resolved against the loaded assemblies.
    /// </summary>
    private const string MissingMembers = """

        var mlTorch = typeof(Microsoft.ML.TorchSharp.TorchSharpCatalog).Assembly;
        using var pe = new System.Reflection.PortableExecutable.PEReader(File.OpenRead(mlTorch.Location));
        var metadata = System.Reflection.Metadata.PEReaderExtensions.GetMetadataReader(pe);
        var missing = new SortedSet<string>();
        foreach (var handle in metadata.MemberReferences)
        {
            try { mlTorch.ManifestModule.ResolveMember(System.Reflection.Metadata.Ecma335.MetadataTokens.GetToken(handle)); }
            catch (MissingMemberException e) { missing.Add(e.Message); }
            catch (ArgumentException) { } // a member of a generic type that needs its instantiation's context: not a missing one
        }
        Console.WriteLine($"TorchSharp {Release(typeof(TorchSharp.torch))}: Microsoft.ML.TorchSharp refers to {missing.Count} missing members");
        foreach (string m in missing) Console.WriteLine("missing: " + m);
        """;

    private string NewApp(string name, string feed, string version, (string, string)[] more) => PackageConsumerTests.WriteApp(Path.Combine(folder, name), feed,
        [("LatentDiffusion", version), ("TorchSharp-cpu", "0.107.0"), ("Microsoft.Extensions.Logging.Console", "11.0.0"), .. more],
        PackageConsumerTests.QuickstartFromReadme(), Strict);

    /// <summary>The version of <paramref name="id"/> the app's restore resolved.</summary>
    private static string Resolved(string app, string id)
    {
        using var assets = JsonDocument.Parse(File.ReadAllText(Path.Combine(app, "obj", "project.assets.json")));
        foreach (var library in assets.RootElement.GetProperty("libraries").EnumerateObject())
            if (library.Name.StartsWith(id + "/", StringComparison.OrdinalIgnoreCase)) return library.Name[(id.Length + 1)..];
        throw new InvalidOperationException($"{id} is not in {app}'s restore");
    }

    [Fact]
    public void Apps_on_ML_NET_5_and_6_run_the_quickstart_and_load_each_others_models_with_the_same_images()
    {
        string version = $"0.1.0-test.{DateTime.UtcNow:yyyyMMddHHmmssfff}";
        string feed = Path.Combine(folder, "feed");
        PackageConsumerTests.Pack(feed, version, "src/LatentDiffusion.Core", "src/LatentDiffusion");

        // Restore only: the issue's app, which names ML.NET 6.0.0 itself, restores with no warning.
        string named = PackageConsumerTests.WriteApp(Path.Combine(folder, "NamedApp"), feed, [("LatentDiffusion", version),
            ("Microsoft.ML", "6.0.0"), ("Microsoft.ML.ImageAnalytics", "6.0.0")], "Console.WriteLine();\n", Strict);
        var restore = PackageConsumerTests.Run(named, "restore");
        Assert.True(restore.ExitCode == 0 && !restore.Output.Contains("warning"), restore.Output);

        var apps = new[] { ("Mlnet5", Array.Empty<(string, string)>(), "5.0.1"), ("Mlnet6", [("Microsoft.ML.TorchSharp", "0.24.0")], "6.0.0") }
            .Select(a => (Path: NewApp(a.Item1, feed, version, a.Item2), Expected: a.Item3)).ToArray();
        foreach (var (app, expected) in apps)
        {
            var run = PackageConsumerTests.Run(app, "run", "-c", "Release", "--", "--quick");
            Assert.True(run.ExitCode == 0, run.Output);
            Assert.Contains("FID ", run.Output);
            Assert.Equal(expected, Resolved(app, "Microsoft.ML"));
            Assert.Equal(expected, Resolved(app, "Microsoft.ML.ImageAnalytics"));
        }
        Assert.Equal("0.107.0", Resolved(apps[1].Path, "TorchSharp"));

        // Each app, rebuilt as a loader, generates from both saved models.
        string[] models = [.. apps.Select(a => Path.Combine(a.Path, "digits.zip"))];
        var hashes = new List<string[]>();
        foreach (var (app, expected) in apps)
        {
            File.WriteAllText(Path.Combine(app, "Program.cs"), Loader + (expected == "6.0.0" ? MissingMembers : ""));
            var load = PackageConsumerTests.Run(app, ["run", "-c", "Release", "--", .. models]);
            Assert.True(load.ExitCode == 0, load.Output);
            Assert.Contains($"ML.NET {expected}\n", load.Output.ReplaceLineEndings("\n"));
            hashes.Add([.. load.Output.Split('\n').Where(l => l.StartsWith("model ", StringComparison.Ordinal)).Select(l => l.Trim())]);
            Assert.True(hashes[^1].Length == 2 && hashes[^1].All(l => l.Contains("6272 values")), load.Output);
            if (expected == "6.0.0") Assert.Matches(@"TorchSharp 0\.107\.0: Microsoft\.ML\.TorchSharp refers to \d+ missing members", load.Output);
            output.WriteLine(load.Output);
        }
        Assert.Equal(hashes[0], hashes[1]);
        foreach (var (app, _) in apps) PackageConsumerTests.DeleteBuild(app);
    }
}
