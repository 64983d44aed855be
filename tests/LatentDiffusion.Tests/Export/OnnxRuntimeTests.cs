using LatentDiffusion.Diffusion;
using LatentDiffusion.Diffusion.Samplers;
using LatentDiffusion.Export;
using LatentDiffusion.Models;
using LatentDiffusion.Models.Vae;
using LatentDiffusion.Onnx;
using LatentDiffusion.Tests.Diffusion;
using static TorchSharp.torch;

namespace LatentDiffusion.Tests.Export;

/// <summary>
/// Whole generations on ONNX Runtime (LatentDiffusion.Onnx, no TorchSharp in its loop) against the full library's for
/// the same requests: every sampler, both guidance methods in their bands, each objective, clipping, the latent
/// standardisation and the decoder. The TorchSharp side samples in float32 (the export is float32 whatever the model
/// samples in); the two differ by float32 rounding and by libtorch's vectorised log/sin/cos in the noise (2e-6).
/// Tolerance: 1e-3 of the largest value, per value.
/// </summary>
public class OnnxRuntimeTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("ld-onnxrt-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    internal static void Randomise(nn.Module module, int seed, double scale)
    {
        using var generator = new Generator((ulong)seed);
        using var _ = no_grad();
        foreach (var (_, p) in module.named_parameters()) p.copy_(randn(p.shape, generator: generator) * scale);
    }

    /// <summary>A small class-conditional latent model with an autoguidance denoiser, random weights, standardisation and a range.</summary>
    internal static DiffusionModel Model(DiffusionObjective objective, int seed = 11)
    {
        var config = new DiffusionModelConfig
        {
            Denoiser = new DenoiserConfig { Kind = DenoiserKind.UNet, DataShape = [3, 7, 7], Width = 8, Classes = 4 },
            Autoguidance = new DenoiserConfig { Kind = DenoiserKind.UNet, DataShape = [3, 7, 7], Width = 4, Classes = 4 },
            DataShift = [0.1f, -0.2f, 0.3f], DataScale = [1.5f, 0.5f, 2f], DataMin = [-2.5f, -2f, -3f], DataMax = [2.5f, 3f, 2f],
            Objective = objective, Timesteps = 200,
        };
        var model = DiffusionModel.Build(config, CPU);
        Randomise(model.Denoiser, seed, 0.08);
        Randomise(model.AutoguidanceDenoiser!, seed + 1, 0.08);
        model.Denoiser.eval();
        model.AutoguidanceDenoiser!.eval();
        return model;
    }

    internal static void Close(float[] expected, float[] actual, double tolerance, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = Math.Max(expected.Max(Math.Abs), 1e-6), worst = expected.Zip(actual, (e, a) => (double)Math.Abs(e - a)).Max();
        Assert.True(scale > 1e-2, $"{what}: the samples are all near zero ({scale}): the comparison would prove nothing");
        Assert.True(worst <= tolerance * scale, $"{what}: largest difference {worst:G4} against largest value {scale:G4} (relative {worst / scale:G3})");
    }

    public static TheoryData<Type, double, DiffusionObjective> Runs => new()
    {
        { typeof(DdimSampler), 0, DiffusionObjective.Epsilon },
        { typeof(DdimSampler), 0.7, DiffusionObjective.Epsilon },      // stochastic: the noise of every step must match too
        { typeof(DdpmSampler), 0, DiffusionObjective.Velocity },
        { typeof(DpmSolverPlusPlusSampler), 0, DiffusionObjective.Sample },
        { typeof(UniPcSampler), 0, DiffusionObjective.Velocity },
        { typeof(HeunSampler), 0, DiffusionObjective.Epsilon },
    };

    [Theory]
    [MemberData(nameof(Runs))]
    public void Onnx_runtime_samples_what_torchsharp_samples_for_the_same_requests(Type sampler, double eta, DiffusionObjective objective)
    {
        var model = Model(objective);
        var sampling = new SamplingOptions
        {
            Sampler = TestSamplers.For(sampler, steps: 8, spacing: TimestepSpacing.LogSnr, eta: eta), GuidanceScale = 2.5, GuidanceMinNoise = 0.2,
            GuidanceMaxNoise = 0.8, AutoguidanceScale = 1.5, AutoguidanceMinNoise = 0.1, AutoguidanceMaxNoise = 0.9, BatchSize = 4,
        };
        int[] labels = [0, 3, -1, 2, 1];
        long[] seeds = [5, 77, -3, 1L << 40, 12];
        var expected = model.Sample(labels, seeds, sampling);

        OnnxExport.Write(folder, model, null, sampling, seed: 9);
        using var generator = OnnxGenerator.Load(folder);
        var actual = generator.Sample(labels, seeds);
        Close(expected, actual, 1e-3, $"{sampler.Name} eta {eta} {objective}");
    }

    [Theory]
    [InlineData(typeof(DdpmSampler))]
    [InlineData(typeof(HeunSampler))]
    public void Points_sample_the_same_on_onnx_runtime(Type sampler)
    {
        // 2-D points: noise of 2 values per request comes from libtorch's serial path, reproduced in managed code.
        var config = new DiffusionModelConfig
        {
            Denoiser = new DenoiserConfig { Kind = DenoiserKind.Mlp, DataShape = [2], Width = 16, Classes = 0 },
            DataShift = [0.5f, -0.3f], DataScale = [2f, 1.5f], DataMin = [-2f, -1.5f], DataMax = [2f, 2.5f], Timesteps = 100,
        };
        var model = DiffusionModel.Build(config, CPU);
        Randomise(model.Denoiser, 5, 0.3);
        model.Denoiser.eval();
        var sampling = new SamplingOptions { Sampler = TestSamplers.For(sampler, steps: 10), BatchSize = 16 };
        int[] labels = [.. Enumerable.Repeat(-1, 40)];
        long[] seeds = [.. Enumerable.Range(0, 40).Select(i => 1000L + i)];
        var expected = model.Sample(labels, seeds, sampling);
        OnnxExport.Write(folder, model, null, sampling, seed: 2);
        using var generator = OnnxGenerator.Load(folder);
        Close(expected, generator.Sample(labels, seeds), 1e-3, $"points, {sampler.Name}");
    }

    [Fact]
    public void Decoded_images_match_per_pixel_and_each_request_is_its_own()
    {
        var model = Model(DiffusionObjective.Epsilon);
        var vaeConfig = new VaeConfig { ImageShape = [1, 28, 28], Width = 8, LatentChannels = 3, Downsampling = 4 };
        manual_seed(3);
        var network = VaeNetwork.Create(vaeConfig, CPU);
        Randomise(network, 4, 0.15);
        var vae = new VaeModel(network, vaeConfig, CPU).WithStandardisation([0.1f, -0.2f, 0.3f], [0.8f, 1.1f, 1.3f]);
        var sampling = new SamplingOptions { Sampler = new UniPcSampler { Steps = 6 }, GuidanceScale = 2, BatchSize = 3 };
        int[] labels = [1, 2, 3, 0, -1];
        long[] seeds = [100, 101, 102, 103, 104];
        var expected = vae.Decode(model.Sample(labels, seeds, sampling), labels.Length);

        OnnxExport.Write(folder, model, vae, sampling, seed: 9);
        using var generator = OnnxGenerator.Load(folder);
        Assert.Equal([1, 28, 28], generator.ImageShape);
        var images = generator.Generate(labels, seeds);
        Assert.Equal(expected.Length, images.Length);
        double worst = expected.Zip(images, (e, a) => (double)Math.Abs(e - a)).Max();
        Assert.True(worst <= 1e-3, $"largest per-pixel difference {worst:G4}");
        Assert.True(expected.Max() - expected.Min() > 0.1, "the images are flat: the comparison would prove nothing");
        // A request's image does not depend on its batch mates (batches of 3 above, alone here), to float rounding: ONNX
        // Runtime's kernels may take another path for another batch size.
        var alone = generator.Generate([labels[4]], [seeds[4]]);
        Assert.True(images.AsSpan(4 * 784, 784).ToArray().Zip(alone, (a, b) => Math.Abs(a - b)).Max() <= 1e-5, "a request's image changed with its batch");
    }

    [Fact]
    public void Bad_folders_and_requests_are_refused_by_name()
    {
        var missing = Assert.Throws<FileNotFoundException>(() => OnnxGenerator.Load(folder));
        Assert.Contains("latent-diffusion.json", missing.Message);

        var model = Model(DiffusionObjective.Epsilon);
        OnnxExport.Write(folder, model, null, new SamplingOptions { Sampler = new DdimSampler { Steps = 3 } }, seed: 1);
        using (var generator = OnnxGenerator.Load(folder))
        {
            var label = Assert.Throws<ArgumentOutOfRangeException>(() => generator.Generate([4], [1]));
            Assert.Contains("label 4", label.Message);
            Assert.Throws<ArgumentException>(() => generator.Generate([1, 2], [1]));
        }

        string settings = Path.Combine(folder, "latent-diffusion.json");
        File.WriteAllText(settings, File.ReadAllText(settings).Replace("\"formatVersion\": 3", "\"formatVersion\": 1"));
        var old = Assert.Throws<LatentDiffusion.MLNet.ModelFileException>(() => OnnxGenerator.Load(folder));
        Assert.Contains("format version 1", old.Message);

        File.Delete(Path.Combine(folder, "denoiser.onnx"));
        File.WriteAllText(settings, File.ReadAllText(settings).Replace("\"formatVersion\": 1", "\"formatVersion\": 3"));
        var gone = Assert.Throws<LatentDiffusion.MLNet.ModelFileException>(() => OnnxGenerator.Load(folder));
        Assert.Contains("denoiser.onnx", gone.Message);
    }
}
