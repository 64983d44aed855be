using LatentDiffusion.Data;
using LatentDiffusion.MLNet.Autoencoder;
using LatentDiffusion.Models;
using LatentDiffusion.Models.Vae;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace LatentDiffusion.Tests.Models.Vae;

/// <summary>The residual autoencoder (issue 26): it learns, it saves and loads exactly, and the plain one is untouched.</summary>
[Trait("Data", "MNIST")]
public class ResidualVaeTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("ld-residual-").FullName;
    private readonly MLContext ml = new(1);

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private static VaeEncoderOptions Options(VaeArchitecture architecture, bool attention = false) =>
        new() { Architecture = architecture, Attention = attention, Epochs = 4, Width = 16, BatchSize = 32 };

    [Fact]
    public void A_residual_vae_with_attention_learns_saves_and_loads_bit_identical()
    {
        var train = ml.Data.TakeRows(ml.Data.LoadMnist(MnistSplit.Train), 1000);
        var test = ml.Data.TakeRows(ml.Data.LoadMnist(MnistSplit.Test), 100);
        var vae = ml.Transforms.EncodeToLatent(Options(VaeArchitecture.Residual, attention: true)).Fit(train);
        Assert.Equal(VaeArchitecture.Residual, vae.Config.Architecture);
        Assert.True(vae.Config.Attention);

        // Better than drawing the mean image: the blank-image error is the pixels' variance around their mean.
        var pixels = test.GetColumn<float[]>("Image").SelectMany(x => x).ToArray();
        double mean = pixels.Average(v => (double)v), variance = pixels.Average(v => (v - mean) * (v - mean));
        double mse = vae.ReconstructionMse(test);
        Assert.InRange(mse, 0, variance / 2);

        string path = Path.Combine(folder, "residual.zip");
        ml.Model.Save(vae, train.Schema, path);
        var context = new MLContext(1);
        context.ComponentCatalog.RegisterLatentDiffusion();
        var loaded = (VaeEncoderTransformer)context.Model.Load(path, out _);
        Assert.Equal(VaeArchitecture.Residual, loaded.Config.Architecture);
        Assert.True(loaded.Config.Attention);
        Assert.Equal(vae.Transform(test).GetColumn<float[]>("Latent").ToArray(), loaded.Transform(test).GetColumn<float[]>("Latent").ToArray());
        var latents = vae.Transform(test).GetColumn<float[]>("Latent").SelectMany(x => x).ToArray();
        Assert.Equal(vae.Decode(latents, 100), loaded.Decode(latents, 100));
    }

    [Fact]
    public void The_architectures_differ_in_their_weights_and_the_plain_one_is_what_files_without_the_setting_hold()
    {
        // A config read from a file written before the setting existed has no Architecture entry: it is the plain stack.
        var old = System.Text.Json.JsonSerializer.Deserialize<VaeConfig>("""{"ImageShape":[1,28,28],"LatentChannels":4,"Downsampling":4,"Width":64}""")!;
        Assert.Equal(VaeArchitecture.Plain, old.Architecture);
        Assert.False(old.Attention);
        long plain = VaeModel.ParameterCount(old);
        long residual = VaeModel.ParameterCount(old with { Architecture = VaeArchitecture.Residual });
        long attention = VaeModel.ParameterCount(old with { Architecture = VaeArchitecture.Residual, Attention = true });
        Assert.True(plain < residual && residual < attention, $"plain {plain}, residual {residual}, with attention {attention}");
        // Self-attention adds a norm (2C), the query/key/value projection (3C x C + 3C) and the output projection (C x C + C), twice.
        Assert.Equal(2 * (2 * 64 + 3 * 64 * 64 + 3 * 64 + 64 * 64 + 64), attention - residual);
    }

    private sealed class StopAt(long step, CancellationTokenSource stop) : IProgress<LatentDiffusion.Training.TrainingProgress>
    {
        public void Report(LatentDiffusion.Training.TrainingProgress p)
        {
            if (p.Model == "vae" && p.Step == step) stop.Cancel();
        }
    }

    [Theory]
    [InlineData(0.0, VaeRegularization.Kl)]
    [InlineData(1.0, VaeRegularization.Kl)]
    [InlineData(0.0, VaeRegularization.Vq)]
    // With the adversarial term from step 3 the checkpoint at step 6 holds the discriminator and its optimiser too.
    [InlineData(0.0, VaeRegularization.Vq, 0.5)]
    public void A_residual_vae_stopped_and_resumed_ends_bit_identical(double perceptualWeight, VaeRegularization regularization, double adversarialWeight = 0)
    {
        var data = ml.Data.TakeRows(ml.Data.LoadMnist(MnistSplit.Train), 320);
        var test = ml.Data.TakeRows(ml.Data.LoadMnist(MnistSplit.Test), 20);
        VaeEncoderOptions Vae(string? dir, bool resume = false, IProgress<LatentDiffusion.Training.TrainingProgress>? p = null, CancellationToken t = default) =>
            new()
            {
                Architecture = VaeArchitecture.Residual, Attention = true, Epochs = 2, Width = 8, BatchSize = 32,
                // With a perceptual term its feature network trains first, under its own checkpoint.
                PerceptualWeight = perceptualWeight, PerceptualLabelColumnName = perceptualWeight > 0 ? "Label" : null,
                Regularization = regularization, CodebookSize = 16, AdversarialWeight = adversarialWeight, AdversarialStart = 3,
                CheckpointDirectory = dir, ResumeFromCheckpoint = resume, Progress = p, CancellationToken = t,
            };
        var expected = ml.Transforms.EncodeToLatent(Vae(null)).Fit(data).Transform(test).GetColumn<float[]>("Latent").ToArray();
        string directory = Path.Combine(folder, "checkpoints");
        using (var stop = new CancellationTokenSource())
            Assert.ThrowsAny<OperationCanceledException>(() => ml.Transforms.EncodeToLatent(Vae(directory, p: new StopAt(6, stop), t: stop.Token)).Fit(data));
        Assert.Equal(expected, ml.Transforms.EncodeToLatent(Vae(directory, resume: true)).Fit(data).Transform(test).GetColumn<float[]>("Latent").ToArray());
    }

    [Fact]
    public void Attention_without_the_residual_architecture_is_refused_naming_both_options()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.EncodeToLatent(Options(VaeArchitecture.Plain, attention: true)));
        Assert.Contains("VaeEncoderOptions.Attention", e.Message);
        Assert.Contains("Residual", e.Message);
        var unknown = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.EncodeToLatent(Options((VaeArchitecture)7)));
        Assert.Contains("Architecture", unknown.Message);
    }
}
