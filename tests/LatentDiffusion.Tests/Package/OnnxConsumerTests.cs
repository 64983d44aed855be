using LatentDiffusion.Diffusion;
using LatentDiffusion.Diffusion.Samplers;
using LatentDiffusion.Export;
using LatentDiffusion.Models;
using LatentDiffusion.Models.Vae;

namespace LatentDiffusion.Tests.Package;

/// <summary>
/// Deployment as a downstream developer meets it: a model exported by the full library, and a brand-new console app
/// that references only <c>LatentDiffusion.Onnx</c> and ONNX Runtime (from a local feed), with the README's "Deploy
/// with ONNX Runtime" program as its Program.cs. It must generate and write its PNGs, round-trip its ML.NET model
/// file, and its output must hold no TorchSharp or libtorch file.
/// </summary>
public class OnnxConsumerTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("ld-onnx-consumer-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void An_app_with_only_the_onnx_runtime_package_generates_from_an_exported_model()
    {
        string version = $"0.1.0-test.{DateTime.UtcNow:yyyyMMddHHmmssfff}";
        string feed = Path.Combine(folder, "feed");
        PackageConsumerTests.Pack(feed, version, "src/LatentDiffusion.Core", "src/LatentDiffusion.Onnx");

        string app = Path.Combine(folder, "DeployApp");
        Directory.CreateDirectory(app);
        // A small model: a UNet over 4x7x7 latents with 4 classes, and a VAE decoder to 1x28x28 (weights as initialised).
        var model = DiffusionModel.Build(new DiffusionModelConfig
        {
            Denoiser = new DenoiserConfig { Kind = DenoiserKind.UNet, DataShape = [4, 7, 7], Width = 8, Classes = 4 },
        }, TorchSharp.torch.CPU);
        var vaeConfig = new VaeConfig { ImageShape = [1, 28, 28], Width = 8, LatentChannels = 4, Downsampling = 4 };
        var vae = new VaeModel(VaeNetwork.Create(vaeConfig, TorchSharp.torch.CPU), vaeConfig, TorchSharp.torch.CPU);
        OnnxExport.Write(Path.Combine(app, "onnx"), model, vae, new SamplingOptions { Sampler = new UniPcSampler { Steps = 5 } }, seed: 1);

        PackageConsumerTests.WriteApp(app, feed, [("LatentDiffusion.Onnx", version), ("Microsoft.ML.OnnxRuntime", "1.32.0")],
            PackageConsumerTests.CodeUnder("## Deploy with ONNX Runtime"));

        var run = PackageConsumerTests.Run(app, "run", "-c", "Release", "--", "onnx");
        Assert.True(run.ExitCode == 0, run.Output);
        Assert.Contains("10 images of [1, 28, 28]", run.Output);
        Assert.Contains("the same images after save and load: True", run.Output);
        Assert.Equal(10, Directory.GetFiles(Path.Combine(app, "generated"), "*.png").Length);
        var output = Path.Combine(app, "bin", "Release", "net10.0");
        var torch = Directory.EnumerateFiles(output, "*", SearchOption.AllDirectories)
            .Where(f => Path.GetFileName(f).Contains("torch", StringComparison.OrdinalIgnoreCase)).ToList();
        Assert.True(torch.Count == 0, "the app carries TorchSharp files:\n" + string.Join("\n", torch));
        Assert.True(File.Exists(Path.Combine(output, "LatentDiffusion.Onnx.dll")));

        // Without a native ONNX Runtime the app is told which package to add.
        string bare = PackageConsumerTests.WriteApp(Path.Combine(folder, "BareApp"), feed, [("LatentDiffusion.Onnx", version)], """
            try { LatentDiffusion.Onnx.OnnxGenerator.Load(args[0]); }
            catch (InvalidOperationException e) { Console.WriteLine(e.Message); return 3; }
            return 0;
            """);
        var missing = PackageConsumerTests.Run(bare, "run", "-c", "Release", "--", Path.Combine(app, "onnx"));
        Assert.True(missing.ExitCode == 3, missing.Output);
        Assert.Contains("add a native ONNX Runtime package to the app (Microsoft.ML.OnnxRuntime for the CPU", missing.Output);
    }
}
