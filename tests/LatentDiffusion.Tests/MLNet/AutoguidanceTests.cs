using LatentDiffusion.Diffusion;
using LatentDiffusion.Diffusion.Samplers;
using LatentDiffusion.MLNet.Denoising;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace LatentDiffusion.Tests.MLNet;

/// <summary>A guide UNet trained alongside the denoiser, and autoguidance at sampling time.</summary>
public class AutoguidanceTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("ld-autoguidance-").FullName;
    private readonly MLContext ml = new(1);

    public void Dispose() => Directory.Delete(folder, recursive: true);

    /// <summary>Two classes of 1x2x2 latents, N(-1, 0.5^2) and N(+1, 0.5^2) per value.</summary>
    private IDataView Latents()
    {
        var random = new Random(5);
        double Normal() => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
        return ml.Data.LoadFromEnumerable(Enumerable.Range(0, 600).Select(i => new LabeledLatentRow
        {
            Label = i % 2, Latent = Enumerable.Range(0, 4).Select(_ => (float)((i % 2 == 0 ? -1 : 1) + 0.5 * Normal())).ToArray(),
        }));
    }

    private static LatentDiffusionOptions Options(int guideWidth, double autoguidance = 1, double autoguidanceMinNoise = 0) => new()
    {
        DataShape = [1, 2, 2], Classes = 2, Width = 16, Epochs = 2, BatchSize = 64, Timesteps = 100, AutoguidanceWidth = guideWidth, AutoguidanceEpochs = 1,
        Sampling = new SamplingOptions
        {
            Sampler = new DdimSampler { Steps = 8 }, GuidanceScale = 2, GuidanceMinNoise = 0.3, GuidanceMaxNoise = 0.8, AutoguidanceScale = autoguidance, AutoguidanceMinNoise = autoguidanceMinNoise
        },
    };

    private static readonly int[] Labels = [0, 1, 0, 1, -1, -1];
    private static readonly long[] Seeds = [10, 11, 12, 13, 14, 15];

    [Fact]
    public void The_guide_leaves_the_main_unet_alone_and_scale_1_ignores_it()
    {
        var plain = ml.Transforms.TrainLatentDiffusion(Options(guideWidth: 0)).Fit(Latents());
        var withGuide = ml.Transforms.TrainLatentDiffusion(Options(guideWidth: 8)).Fit(Latents());
        Assert.Equal(0, plain.AutoguidanceWidth);
        Assert.Equal(8, withGuide.AutoguidanceWidth);
        Assert.Single(withGuide.AutoguidanceHistory.Epochs);
        Assert.Empty(plain.AutoguidanceHistory.Epochs);

        // Same seed, same main UNet: at autoguidance 1 the samples match bit for bit.
        Assert.Equal(plain.Sample(Labels, Seeds), withGuide.Sample(Labels, Seeds));

        var guided = withGuide.WithSampling(WithAutoguidance(withGuide.Sampling, 2));
        var once = guided.Sample(Labels, Seeds);
        Assert.Equal(once, guided.Sample(Labels, Seeds));
        Assert.NotEqual(plain.Sample(Labels, Seeds), once);
        Assert.All(once, v => Assert.True(float.IsFinite(v)));

        // The band limits autoguidance to some noise levels: one holding none of the 8 visited steps changes nothing,
        // one holding only some of them changes only part of the trajectory.
        var emptyBand = WithAutoguidance(withGuide.Sampling, 2);
        (emptyBand.AutoguidanceMinNoise, emptyBand.AutoguidanceMaxNoise) = (0.001, 0.005);
        Assert.Equal(plain.Sample(Labels, Seeds), withGuide.WithSampling(emptyBand).Sample(Labels, Seeds));
        var highNoise = WithAutoguidance(withGuide.Sampling, 2);
        (highNoise.AutoguidanceMinNoise, highNoise.AutoguidanceMaxNoise) = (0.5, 1);
        var partly = withGuide.WithSampling(highNoise).Sample(Labels, Seeds);
        Assert.NotEqual(once, partly);
        Assert.NotEqual(plain.Sample(Labels, Seeds), partly);
    }

    [Fact]
    public void The_guide_and_the_scale_travel_with_the_saved_model()
    {
        var trained = ml.Transforms.TrainLatentDiffusion(Options(guideWidth: 8, autoguidance: 1.5, autoguidanceMinNoise: 0.2)).Fit(Latents());
        var requests = ml.Data.LoadFromEnumerable(Labels.Select((l, i) => new Request { Label = l, Seed = Seeds[i] }));
        string path = Path.Combine(folder, "guided.zip");
        ml.Model.Save(trained, requests.Schema, path);

        var fresh = new MLContext(1);
        fresh.ComponentCatalog.RegisterLatentDiffusion();
        var loaded = (LatentDiffusionTransformer)fresh.Model.Load(path, out _);
        Assert.Equivalent(trained.Sampling, loaded.Sampling, strict: true);
        Assert.Equal((1.5, 0.2), (loaded.Sampling.AutoguidanceScale, loaded.Sampling.AutoguidanceMinNoise));
        Assert.Equal(8, loaded.AutoguidanceWidth);
        Assert.Equal(trained.AutoguidanceHistory.Epochs, loaded.AutoguidanceHistory.Epochs);
        Assert.Equal(trained.Sample(Labels, Seeds), loaded.Sample(Labels, Seeds));
        Assert.Equal(trained.Transform(requests).GetColumn<float[]>("GeneratedLatent").ToArray(),
            loaded.Transform(requests).GetColumn<float[]>("GeneratedLatent").ToArray());
    }

    [Fact]
    public void Autoguidance_without_a_guide_or_with_bad_settings_fails_clearly()
    {
        var noGuide = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.TrainLatentDiffusion(Options(guideWidth: 0, autoguidance: 1.5)));
        Assert.Equal("AutoguidanceScale", noGuide.ParamName);
        Assert.Contains("AutoguidanceWidth", noGuide.Message);

        var tooNarrow = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.TrainLatentDiffusion(Options(guideWidth: 2)));
        Assert.Equal("AutoguidanceWidth", tooNarrow.ParamName);

        var belowOne = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.TrainLatentDiffusion(Options(guideWidth: 8, autoguidance: 0.5)));
        Assert.Equal("AutoguidanceScale", belowOne.ParamName);

        var badBand = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.TrainLatentDiffusion(Options(guideWidth: 8, autoguidance: 1.5, autoguidanceMinNoise: 1.5)));
        Assert.Equal("AutoguidanceMinNoise", badBand.ParamName);

        // A model trained without a guide refuses autoguidance when asked for it later.
        var plain = ml.Transforms.TrainLatentDiffusion(Options(guideWidth: 0)).Fit(Latents());
        var late = Assert.Throws<ArgumentOutOfRangeException>(() => plain.WithSampling(WithAutoguidance(plain.Sampling, 2)));
        Assert.Contains("no autoguidance denoiser", late.Message);
    }

    private static SamplingOptions WithAutoguidance(SamplingOptions sampling, double scale)
    {
        var copy = sampling.Clone();
        copy.AutoguidanceScale = scale;
        return copy;
    }
}

public sealed class LabeledLatentRow
{
    public int Label { get; set; }

    [VectorType(4)]
    public float[] Latent { get; set; } = [];
}
