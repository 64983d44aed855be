using LatentDiffusion.Diffusion;
using LatentDiffusion.Diffusion.Samplers;
using LatentDiffusion.MLNet.Autoencoder;
using LatentDiffusion.MLNet.Denoising;
using LatentDiffusion.MLNet.Evaluation;
using LatentDiffusion.MLNet.Generation;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace LatentDiffusion.Tests.MLNet;

/// <summary>Every estimator of the library through <see cref="EstimatorContract"/>; a new estimator adds a case here.</summary>
[Trait("Data", "MNIST")]
public class EstimatorConformanceTests(TinyModels models) : IClassFixture<TinyModels>, IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("ld-contract-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private IDataView Digits(int rows) => models.Context.Data.TakeRows(models.Train, rows);

    [Fact]
    public void Vae_encoder_keeps_the_estimator_contract()
    {
        var ml = models.Context;
        // Invalid: the image column holds integers.
        var invalid = ml.Data.LoadFromEnumerable(new[] { new IntImage { Image = new int[784] } });
        EstimatorContract.Check(ml.Transforms.EncodeToLatent(new VaeEncoderOptions { Epochs = 1, Width = 8, BatchSize = 32 }), Digits(64), invalid, folder);
    }

    [Fact]
    public void Latent_diffusion_trainer_keeps_the_estimator_contract()
    {
        var ml = models.Context;
        var latents = models.Vae.Transform(Digits(64));
        // Invalid: labels are floating point.
        var invalid = ml.Data.LoadFromEnumerable(new[] { new FloatLabelledLatent { Latent = new float[196] } });
        var trainer = ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions
        {
            Epochs = 1, Width = 8, Timesteps = 50, BatchSize = 16, Sampling = new SamplingOptions { Sampler = new DdimSampler { Steps = 3 }, BatchSize = 16 },
        });
        EstimatorContract.Check(trainer, latents, invalid, folder);
    }

    [Fact]
    public void Digit_generator_keeps_the_estimator_contract()
    {
        var ml = models.Context;
        // Invalid: the label column holds text.
        var invalid = ml.Data.LoadFromEnumerable(new[] { new TextLabel { Label = "three" } });
        var generator = ml.Transforms.GenerateDigits(models.Diffusion, models.Vae, new DigitGeneratorOptions { Sampling = TinyModels.Sampling });
        EstimatorContract.Check(generator, models.Requests(12), invalid, folder);
    }

    [Fact]
    public void Digit_generator_given_the_estimators_keeps_the_estimator_contract()
    {
        var ml = models.Context;
        // Invalid: the label column holds text (which its fitted generator refuses in requests too).
        var invalid = ml.Data.LoadFromEnumerable(new[] { new TextLabelledImage { Label = "three", Image = new float[784] } });
        var vae = ml.Transforms.EncodeToLatent(new VaeEncoderOptions { Epochs = 1, Width = 8, BatchSize = 32 });
        var diffusion = ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions
        {
            Epochs = 1, Width = 8, Timesteps = 50, BatchSize = 16, Sampling = new SamplingOptions { Sampler = new DdimSampler { Steps = 3 }, BatchSize = 16 },
        });
        var generator = ml.Transforms.GenerateDigits(diffusion, vae, new DigitGeneratorOptions { Sampling = new SamplingOptions { Sampler = new DdimSampler { Steps = 3 }, BatchSize = 16 } });
        EstimatorContract.Check(generator, Digits(64), invalid, folder);
    }

    [Fact]
    public void Fid_evaluator_keeps_the_estimator_contract()
    {
        var ml = models.Context;
        // Invalid: the image column holds integers.
        var invalid = ml.Data.LoadFromEnumerable(new[] { new IntImage { Image = new int[784] } });
        EstimatorContract.Check(ml.Transforms.FidEvaluator(new FidEvaluatorOptions { Epochs = 1, BatchSize = 32 }), Digits(64), invalid, folder);
    }

    private sealed class TextLabelledImage
    {
        public string Label { get; set; } = "";
        [VectorType(784)] public float[] Image { get; set; } = [];
    }

    private sealed class IntImage
    {
        [VectorType(784)] public int[] Image { get; set; } = [];
    }

    private sealed class FloatLabelledLatent
    {
        public float Label { get; set; }
        [VectorType(196)] public float[] Latent { get; set; } = [];
    }

    private sealed class TextLabel
    {
        public string Label { get; set; } = "";
    }
}
