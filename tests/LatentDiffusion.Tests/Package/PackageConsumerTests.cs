using System.Diagnostics;
using System.Text;

namespace LatentDiffusion.Tests.Package;

/// <summary>
/// The package as a downstream developer meets it: packed into a local feed, referenced by a brand-new console app
/// together with TorchSharp-cpu and a console logger, and run, with the README's quickstart as the app's Program.cs
/// (taken from the README text, so the README cannot drift) and its documented --quick switch. A second app whose
/// first statement is a TorchSharp call runs too: the package's build targets make TorchSharp loadable from line one.
/// </summary>
[Trait("Data", "MNIST")]
public class PackageConsumerTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("ld-consumer-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    internal static string RepositoryFile(string name)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "LatentDiffusion.sln"))) return Path.Combine(dir.FullName, name);
        throw new FileNotFoundException("Repository root not found above " + AppContext.BaseDirectory);
    }

    /// <summary>The C# block under the README's "## Quickstart" heading.</summary>
    internal static string QuickstartFromReadme() => CodeUnder("## Quickstart");

    /// <summary>The first C# block under the README heading <paramref name="heading"/>.</summary>
    internal static string CodeUnder(string heading)
    {
        var lines = File.ReadAllLines(RepositoryFile("README.md"));
        int at = Array.FindIndex(lines, l => l.Trim() == heading);
        Assert.True(at >= 0, $"README has no '{heading}' heading");
        int start = Array.FindIndex(lines, at, l => l.Trim() == "```csharp");
        int end = Array.FindIndex(lines, start + 1, l => l.Trim() == "```");
        Assert.True(start > at && end > start, $"no ```csharp block under '{heading}'");
        return string.Join('\n', lines[(start + 1)..end]) + "\n";
    }

    /// <summary>
    /// A folder of PNG files in two label sub-folders: a bar across or a bar down, at a random row or column, on
    /// 12x12 pixels (the program resizes them); grey, or coloured by class.
    /// </summary>
    private static string ImageFolder(string path, bool colour)
    {
        var random = new Random(colour ? 2 : 1);
        foreach (var (name, across) in new[] { ("across", true), ("down", false) })
        {
            Directory.CreateDirectory(Path.Combine(path, name));
            for (int i = 0; i < 30; i++)
            {
                int channels = colour ? 3 : 1, at = random.Next(2, 10);
                var pixels = new float[channels * 144];
                for (int y = 0; y < 12; y++)
                    for (int x = 0; x < 12; x++)
                        if (across ? y == at || y == at + 1 : x == at || x == at + 1)
                            for (int c = 0; c < channels; c++) pixels[c * 144 + y * 12 + x] = !colour ? 1f : (c == 0) == across ? 0.9f : 0.15f;
                using var image = LatentDiffusion.MLNet.MLImages.FromPixels(pixels, channels, 12, 12);
                image.Save(Path.Combine(path, name, $"{i:D3}.png"));
            }
        }
        return path;
    }

    internal static (int ExitCode, string Output) Run(string workingDirectory, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet", arguments) { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true };
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        using var process = Process.Start(start)!;
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        Assert.True(process.WaitForExit(900_000), $"dotnet {string.Join(' ', arguments)} did not finish in 15 minutes");
        process.WaitForExit();
        return (process.ExitCode, output.ToString());
    }

    private string NewApp(string name, string feed, string version, string program) => WriteApp(Path.Combine(folder, name), feed, [
        ("LatentDiffusion", version), ("TorchSharp-cpu", "0.107.0"), ("Microsoft.Extensions.Logging.Console", "11.0.0")], program);

    /// <summary>
    /// Packs <paramref name="projects"/> (built already) into <paramref name="feed"/> at <paramref name="version"/>: a
    /// package depends on the core at its own version, so the core goes into the feed with it.
    /// </summary>
    internal static void Pack(string feed, string version, params string[] projects)
    {
        foreach (var project in projects)
        {
            var pack = Run(RepositoryFile(""), "pack", project, "-c", "Release", "--no-build", "-o", feed, $"-p:PackageVersion={version}");
            Assert.True(pack.ExitCode == 0, pack.Output);
        }
    }

    /// <summary>A console app in <paramref name="app"/> that restores <paramref name="packages"/> from <paramref name="feed"/> and the machine's sources.</summary>
    /// <param name="app">The app's folder.</param>
    /// <param name="feed">The local feed.</param>
    /// <param name="packages">The app's package references.</param>
    /// <param name="program">Its Program.cs.</param>
    /// <param name="properties">More MSBuild properties, as XML elements.</param>
    internal static string WriteApp(string app, string feed, (string Id, string Version)[] packages, string program, string properties = "")
    {
        Directory.CreateDirectory(app);
        string references = string.Join("\n    ", packages.Select(p => $"<PackageReference Include=\"{p.Id}\" Version=\"{p.Version}\" />"));
        File.WriteAllText(Path.Combine(app, $"{Path.GetFileName(app)}.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <Nullable>enable</Nullable>
                <NoWarn>$(NoWarn);NU1603</NoWarn>
                {properties}
              </PropertyGroup>
              <ItemGroup>
                {references}
              </ItemGroup>
            </Project>
            """);
        // The local feed beside the sources the machine already has.
        File.WriteAllText(Path.Combine(app, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <add key="local" value="{feed}" />
              </packageSources>
            </configuration>
            """);
        File.WriteAllText(Path.Combine(app, "Program.cs"), program);
        return app;
    }

    // Each app's build holds a copy of libtorch (about 1.1 GB): removed as soon as the app has been checked, so that the
    // test never holds more than one.
    internal static void DeleteBuild(string app)
    {
        foreach (var output in new[] { "bin", "obj" })
            Directory.Delete(Path.Combine(app, output), recursive: true);
    }

    [Fact]
    public void A_new_console_app_installs_the_package_and_runs_the_readme_quickstart_the_own_images_program_a_torchsharp_first_program_and_pretrained_fid()
    {
        // A version of its own, so that the machine's package cache cannot hand back an older build.
        string version = $"0.1.0-test.{DateTime.UtcNow:yyyyMMddHHmmssfff}";
        string feed = Path.Combine(folder, "feed");
        Pack(feed, version, "src/LatentDiffusion.Core", "src/LatentDiffusion");

        var quickstart = NewApp("QuickstartApp", feed, version, QuickstartFromReadme());
        var run = Run(quickstart, "run", "-c", "Release", "--", "--quick");
        Assert.True(run.ExitCode == 0, run.Output);
        Assert.Contains("FID ", run.Output);
        Assert.Contains("4 passes per image: FID ", run.Output);
        Assert.True(File.Exists(Path.Combine(quickstart, "digits.zip")), run.Output);
        Assert.True(File.Exists(Path.Combine(quickstart, "first-digit.png")), run.Output);
        DeleteBuild(quickstart);

        // The own-images program, on a grey folder and a colour one.
        var ownImages = NewApp("OwnImagesApp", feed, version, CodeUnder("## Your own images"));
        Assert.True(Run(ownImages, "build", "-c", "Release") is { ExitCode: 0 } built, "the own-images program did not build");
        foreach (var (kind, flags, shape) in new[] { ("grey", new[] { "--grey" }, "[1, 16, 16]"), ("colour", Array.Empty<string>(), "[3, 16, 16]") })
        {
            string images = ImageFolder(Path.Combine(folder, kind), colour: kind == "colour");
            var own = Run(ownImages, ["run", "-c", "Release", "--no-build", "--", images, .. flags, "--quick"]);
            Assert.True(own.ExitCode == 0, own.Output);
            Assert.Contains("60 images in 2 classes: across, down", own.Output);
            Assert.Contains($"Learnt images of {shape}", own.Output);
            Assert.DoesNotContain("identical colour planes", own.Output);
            Assert.Equal(16, Directory.GetFiles(Path.Combine(ownImages, "generated"), "*.png").Length);
            Directory.Delete(Path.Combine(ownImages, "generated"), recursive: true);
        }
        // A folder without sub-folders: no labels, so the model labels its data itself.
        string flat = ImageFolder(Path.Combine(folder, "flat"), colour: false);
        foreach (var sub in Directory.GetDirectories(flat))
        {
            foreach (var file in Directory.GetFiles(sub)) File.Move(file, Path.Combine(flat, $"{Path.GetFileName(sub)}-{Path.GetFileName(file)}"));
            Directory.Delete(sub);
        }
        var unlabelled = Run(ownImages, ["run", "-c", "Release", "--no-build", "--", flat, "--grey", "--quick"]);
        Assert.True(unlabelled.ExitCode == 0, unlabelled.Output);
        Assert.Contains("60 images without labels", unlabelled.Output);
        Assert.Contains("Learnt images of [1, 16, 16]", unlabelled.Output);
        Assert.Equal(16, Directory.GetFiles(Path.Combine(ownImages, "generated"), "any-*.png").Length);
        DeleteBuild(ownImages);

        var torchFirst = NewApp("TorchFirstApp", feed, version, """
            var t = TorchSharp.torch.ones(4, 4);
            Console.WriteLine($"sum {t.sum().item<float>()}");
            """);
        var first = Run(torchFirst, "run", "-c", "Release");
        Assert.True(first.ExitCode == 0, first.Output);
        Assert.Contains("sum 16", first.Output);
        DeleteBuild(torchFirst);

        // The pretrained instrument: the featurizer's ONNX files arrive beside the app with the package, nothing copied by hand.
        var pretrained = NewApp("PretrainedFidApp", feed, version, """
            using LatentDiffusion.MLNet.Evaluation;
            using LatentDiffusion.Models;
            using Microsoft.ML;
            using Microsoft.ML.Data;
            var ml = new MLContext(1);
            var random = new Random(2);
            var schema = SchemaDefinition.Create(typeof(Row));
            schema[0].ColumnType = new VectorDataViewType(NumberDataViewType.Single, 3, 12, 16);
            var images = ml.Data.LoadFromEnumerable(Enumerable.Range(0, 6)
                .Select(_ => new Row { Image = Enumerable.Range(0, 576).Select(_ => (float)random.NextDouble()).ToArray() }).ToList(), schema);
            var instrument = ml.Transforms.FidEvaluator(new FidEvaluatorOptions { Classifier = FidClassifierKind.PretrainedResNet18 }).Fit(images);
            var metrics = instrument.Evaluate(ml.Data.TakeRows(images, 3), ml.Data.SkipRows(images, 3));
            Console.WriteLine($"features {instrument.FeatureSize}, FID {metrics.Fid:F2}");
            public sealed class Row { public float[] Image { get; set; } = []; }
            """);
        var fid = Run(pretrained, "run", "-c", "Release");
        Assert.True(fid.ExitCode == 0, fid.Output);
        Assert.Contains("features 512, FID ", fid.Output);
        Assert.True(File.Exists(Path.Combine(pretrained, "bin", "Release", "net10.0", "DnnImageModels", "ResNet18Onnx", "ResNet18.onnx")));
    }
}
