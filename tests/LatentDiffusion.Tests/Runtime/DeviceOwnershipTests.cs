using LatentDiffusion.Diffusion;
using LatentDiffusion.Diffusion.Samplers;
using LatentDiffusion.Models;
using LatentDiffusion.Models.Classifier;
using LatentDiffusion.Models.Vae;
using LatentDiffusion.Training;
using static TorchSharp.torch;

namespace LatentDiffusion.Tests.Runtime;

/// <summary>
/// Every tensor the engine makes is created on the model's device. There is no GPU here, so the test moves
/// TorchSharp's default device to "meta" (tensors with a shape and no data) while the models stay on the CPU: a tensor
/// created without naming the model's device lands on meta, and the first operation that meets a CPU tensor fails,
/// just as a CPU tensor meeting a CUDA one would.
/// </summary>
public class DeviceOwnershipTests
{
    private static T WithStrayTensorsOnMeta<T>(Func<T> run)
    {
        var previous = get_default_device();
        set_default_device(new Device("meta"));
        try
        {
            return run();
        }
        finally
        {
            set_default_device(previous);
        }
    }

    [Fact]
    public void The_trap_catches_a_tensor_made_without_the_models_device()
    {
        var onModelDevice = randn([2, 3], device: CPU);
        var e = Assert.ThrowsAny<Exception>(() => WithStrayTensorsOnMeta(() => (onModelDevice + randn(2, 3)).sum().item<float>()));
        Assert.Contains("meta", e.Message);
    }

    [Fact]
    public void Diffusion_training_and_guided_sampling_keep_every_tensor_on_the_models_device()
    {
        var random = new Random(1);
        const int rows = 80;
        var data = Enumerable.Range(0, rows * 2 * 4 * 4).Select(_ => (float)random.NextDouble()).ToArray();
        var labels = Enumerable.Range(0, rows).Select(i => i % 3).ToArray();
        var denoiser = new DenoiserConfig { Kind = DenoiserKind.UNet, DataShape = [2, 4, 4], Width = 8, Classes = 3 };
        var config = new DiffusionModelConfig
        {
            Denoiser = denoiser, Schedule = NoiseScheduleKind.Cosine, Timesteps = 50, Objective = DiffusionObjective.Velocity,
            Autoguidance = denoiser with { Width = 4 },
        };
        var settings = new DiffusionTrainingSettings
        {
            Epochs = 1, AutoguidanceEpochs = 1, ValidationFraction = 0.1, Loss = new DiffusionLoss(DiffusionLossKind.MeanSquaredError, LossWeighting.MinSnr, 5),
        };
        var sampling = new SamplingOptions
        {
            Sampler = new DdpmSampler { Steps = 6 }, GuidanceScale = 2, GuidanceMinNoise = 0.3, AutoguidanceScale = 1.5, Precision = SamplingPrecision.BFloat16
        };
        var samples = WithStrayTensorsOnMeta(() =>
        {
            var run = new TrainingRun { Device = CPU, BatchSize = 16, Precision = TrainingPrecision.BFloat16 };
            var (model, _) = DiffusionTraining.Fit(config, TrainingData.InMemory(data, labels, rows), settings, run);
            return model.Sample([0, 2, -1], [5, 6, 7], sampling);
        });
        Assert.Equal(3 * 32, samples.Length);
        Assert.All(samples, v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void Vae_and_classifier_training_and_use_keep_every_tensor_on_the_models_device()
    {
        var random = new Random(2);
        const int rows = 40;
        var images = Enumerable.Range(0, rows * 64).Select(_ => (float)random.NextDouble()).ToArray();
        var labels = Enumerable.Range(0, rows).Select(i => i % 2).ToArray();
        var run = new TrainingRun { Device = CPU, BatchSize = 8 };
        var (latents, decoded, prior, features) = WithStrayTensorsOnMeta(() =>
        {
            var (vae, _) = VaeTraining.Fit(new VaeConfig { ImageShape = [1, 8, 8], LatentChannels = 2, Downsampling = 2, Width = 4 }, TrainingData.InMemory(images, null, rows),
                new VaeTrainingSettings { Epochs = 1, ValidationFraction = 0.1 }, run);
            var z = vae.Encode(images[..(3 * 64)], 3, seeds: [1, 2, 3]);
            var (classifier, _) = ClassifierTraining.Fit(new ClassifierConfig { ImageShape = [1, 8, 8], Classes = 2 }, TrainingData.InMemory(images, labels, rows),
                new ClassifierTrainingSettings { Epochs = 1 }, run);
            return (z, vae.Decode(z, 3), vae.SamplePrior(2, 4), classifier.Run(images[..64], 1).Features);
        });
        Assert.Equal(3 * 2 * 4 * 4, latents.Length);
        Assert.Equal(3 * 64, decoded.Length);
        Assert.Equal(2 * 64, prior.Length);
        Assert.Equal(128, features.Length);
    }
}
