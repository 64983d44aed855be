using System.Text.Json.Nodes;
using LatentDiffusion.Diffusion.Samplers;
using LatentDiffusion.Export;
using LatentDiffusion.Models;
using LatentDiffusion.Models.Denoisers;
using LatentDiffusion.Models.Vae;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Tensor = TorchSharp.torch.Tensor;
using static TorchSharp.torch;

namespace LatentDiffusion.Tests.Export;

/// <summary>
/// Every kind of network we build, exported to ONNX and run on ONNX Runtime, gives TorchSharp's float32 outputs to
/// 1e-4 relative (the largest difference over the largest output) on random weights and inputs.
/// </summary>
public class OnnxExportTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("ld-onnx-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    /// <summary>Random weights everywhere (the output layers start at zero, which would make any export look right).</summary>
    private static void Randomise(nn.Module module, int seed)
    {
        using var generator = new Generator((ulong)seed);
        using var _ = no_grad();
        foreach (var (_, p) in module.named_parameters()) p.copy_(randn(p.shape, generator: generator) * 0.3);
    }

    private static float[] Run(byte[] model, params NamedOnnxValue[] inputs)
    {
        using var session = new InferenceSession(model);
        using var results = session.Run(inputs);
        return results.First().AsEnumerable<float>().ToArray();
    }

    private static NamedOnnxValue Input(string name, Tensor value) => value.dtype == ScalarType.Int64
        ? NamedOnnxValue.CreateFromTensor(name, new DenseTensor<long>(value.data<long>().ToArray(), value.shape.Select(d => (int)d).ToArray()))
        : NamedOnnxValue.CreateFromTensor(name, new DenseTensor<float>(value.data<float>().ToArray(), value.shape.Select(d => (int)d).ToArray()));

    private static void Close(float[] expected, float[] actual, double tolerance = 1e-4)
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = expected.Max(Math.Abs), worst = expected.Zip(actual, (e, a) => (double)Math.Abs(e - a)).Max();
        Assert.True(scale > 1e-3, $"the outputs are all near zero ({scale}): the comparison would prove nothing");
        Assert.True(worst <= tolerance * scale, $"largest difference {worst:G4} against largest output {scale:G4} (relative {worst / scale:G3})");
    }

    public static TheoryData<string, int[], int, int, int> Denoisers => new()
    {
        { "UNet", [4, 7, 7], 8, 10, 2 },        // the MNIST latent's shape, class-conditional
        { "UNet", [1, 28, 28], 8, 0, 3 },       // pixels, three levels, unconditional
        { "UNet", [3, 9, 13], 8, 3, 3 },        // odd sides: the levels round up and the resizes must match
        { "Mlp", [2], 16, 0, 2 },               // points
        { "Mlp", [3, 4], 12, 5, 2 },            // any shape, taken flat, class-conditional
    };

    [Theory]
    [MemberData(nameof(Denoisers))]
    public void An_exported_denoiser_matches_torchsharp(string kind, int[] shape, int width, int classes, int levels)
    {
        var config = new DenoiserConfig
        {
            Kind = Enum.Parse<DenoiserKind>(kind), DataShape = shape, Width = width, Classes = classes, Levels = levels, Depth = 2,
        };
        using var denoiser = DenoiserNetworks.Create(config, CPU);
        Randomise(denoiser, 3);
        denoiser.eval();
        using var generator = new Generator(4);
        using var x = randn([5, .. shape.Select(d => (long)d)], generator: generator);
        using var t = tensor(new float[] { 0, 1, 250, 640, 999 });
        using var labels = tensor(classes == 0 ? new long[5] : new long[] { 0, 1, 2 % classes, classes, classes - 1 });
        float[] expected;
        using (no_grad()) expected = denoiser.forward(x, t, labels).data<float>().ToArray();

        var model = DenoiserExport.Build(denoiser, "denoiser").ToBytes("test");
        var inputs = classes > 0 ? new[] { Input("x", x), Input("t", t), Input("labels", labels) } : [Input("x", x), Input("t", t)];
        Close(expected, Run(model, inputs));
    }

    public static TheoryData<string, int[], int, bool, bool> Decoders => new()
    {
        { "Plain", [1, 28, 28], 4, false, false },       // the plain KL VAE
        { "Residual", [1, 28, 28], 4, true, true },      // the default preset's: residual, attention, VQ
        { "Residual", [3, 22, 30], 4, true, false },     // colour, sides padded to 24x32 and cropped back
        { "Plain", [3, 10, 14], 2, false, true },        // one halving, VQ
    };

    [Theory]
    [MemberData(nameof(Decoders))]
    public void An_exported_vae_decoder_matches_torchsharp(string architecture, int[] imageShape, int downsampling, bool attention, bool vq)
    {
        var config = new VaeConfig
        {
            ImageShape = imageShape, Downsampling = downsampling, Width = 16, LatentChannels = 3, Architecture = Enum.Parse<VaeArchitecture>(architecture),
            Attention = attention, Regularization = vq ? VaeRegularization.Vq : VaeRegularization.Kl, CodebookSize = vq ? 32 : 0,
        };
        manual_seed(5);
        var network = VaeNetwork.Create(config, CPU);
        Randomise(network, 6);
        var vae = new VaeModel(network, config, CPU).WithStandardisation([0.1f, -0.2f, 0.3f], [0.8f, 1.1f, 1.3f]);
        using var generator = new Generator(7);
        var latentShape = vae.Config.LatentShape;
        using var latents = randn([4, .. latentShape.Select(d => (long)d)], generator: generator);
        var expected = vae.Decode(latents.data<float>().ToArray(), 4);

        var model = VaeDecoderExport.Build(vae, "decoder").ToBytes("test");
        Close(expected, Run(model, Input("latents", latents)));
    }

    [Fact]
    public void A_generator_exports_its_networks_and_a_description_that_onnx_runtime_and_json_read()
    {
        var diffusionConfig = new LatentDiffusion.Diffusion.DiffusionModelConfig
        {
            Denoiser = new DenoiserConfig { Kind = DenoiserKind.UNet, DataShape = [3, 7, 7], Width = 8, Classes = 10 },
            Autoguidance = new DenoiserConfig { Kind = DenoiserKind.UNet, DataShape = [3, 7, 7], Width = 4, Classes = 10 },
            DataShift = [0.1f, 0.2f, 0.3f], DataScale = [1, 2, 3], DataMin = [-3, -3, -3], DataMax = [3, 3, 3],
        };
        var model = LatentDiffusion.Diffusion.DiffusionModel.Build(diffusionConfig, CPU);
        var vaeConfig = new VaeConfig { ImageShape = [1, 28, 28], Width = 8, LatentChannels = 3, Downsampling = 4 };
        var vae = new VaeModel(VaeNetwork.Create(vaeConfig, CPU), vaeConfig, CPU);
        var sampling = new LatentDiffusion.Diffusion.SamplingOptions { Sampler = new DdimSampler { Steps = 12 }, GuidanceScale = 2.5 };
        var files = OnnxExport.Write(folder, model, vae, sampling, seed: 9);
        Assert.Equal(["denoiser.onnx", "autoguidance.onnx", "decoder.onnx", "latent-diffusion.json"], files.Select(Path.GetFileName));
        foreach (var onnx in files.Where(f => f.EndsWith(".onnx", StringComparison.Ordinal)))
        {
            using var session = new InferenceSession(onnx);
            Assert.NotEmpty(session.InputMetadata);
        }
        var description = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "latent-diffusion.json")))!;
        Assert.Equal(3, description["formatVersion"]!.GetValue<int>());
        Assert.Equal(10, description["process"]!["classes"]!.GetValue<int>());
        Assert.True(description["process"]!["hasAutoguidance"]!.GetValue<bool>());
        Assert.Equal(1000, description["alphaBars"]!.AsArray().Count);
        Assert.Equal("Ddim", description["sampling"]!["sampler"]!["name"]!.GetValue<string>());
        Assert.Equal(12, description["sampling"]!["sampler"]!["steps"]!.GetValue<int>());
        Assert.Equal("decoder.onnx", description["decoder"]!["name"]!.GetValue<string>());
        foreach (var role in new[] { "denoiser", "autoguidance", "decoder" })
            Assert.Equal(LatentDiffusion.Export.ExportedModel.Hash(File.ReadAllBytes(Path.Combine(folder, $"{role}.onnx"))),
                description[role]!["sha256"]!.GetValue<string>());
        Assert.Equal(9, description["seed"]!.GetValue<int>());
    }
}
