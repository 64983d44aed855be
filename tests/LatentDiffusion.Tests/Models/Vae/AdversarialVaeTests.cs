using System.Globalization;
using System.Text.RegularExpressions;
using LatentDiffusion.Data;
using LatentDiffusion.MLNet.Autoencoder;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace LatentDiffusion.Tests.Models.Vae;

/// <summary>The VAE's patch-adversarial term (issue 26): its discriminator learns, it starts at its step and not before, and bad settings are refused.</summary>
[Trait("Data", "MNIST")]
public partial class AdversarialVaeTests
{
    private readonly MLContext ml = new(1);

    private static VaeEncoderOptions Options(double weight, int start, List<string>? lines = null) => new()
    {
        Epochs = 3, Width = 16, BatchSize = 32, AdversarialWeight = weight, AdversarialStart = start, Logger = lines is null ? null : new ListLogger(lines),
    };

    [GeneratedRegex(@"hinge loss (\S+) \(1 = cannot tell\), generator term (\S+), adaptive weight (\S+)")]
    private static partial Regex Summary();

    [Fact]
    public void The_discriminator_learns_to_tell_reconstructions_from_images_and_weights_its_term_adaptively()
    {
        var train = ml.Data.TakeRows(ml.Data.LoadMnist(MnistSplit.Train), 1000);
        var lines = new List<string>();
        ml.Transforms.EncodeToLatent(Options(0.5, start: 20, lines)).Fit(train);
        var match = lines.Select(l => Summary().Match(l)).SingleOrDefault(m => m.Success);
        Assert.True(match is not null, string.Join("\n", lines));
        double hinge = double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture), weight = double.Parse(match.Groups[3].Value, CultureInfo.InvariantCulture);
        // 1 is a discriminator that scores everything 0; one that has learned nothing stays near it. Blurry early
        // reconstructions are easy to tell from digits.
        Assert.True(hinge < 0.9, string.Join("\n", lines));
        // The adaptive weight balances the two gradients: positive and finite, below its clamp.
        Assert.InRange(weight, 1e-6, 1e4 - 1);
        Assert.Contains(lines, l => l.Contains("Adversarial term: 73 discriminator steps"));
    }

    [Fact]
    public void Before_its_start_step_the_term_changes_nothing_and_from_it_training_differs()
    {
        var train = ml.Data.TakeRows(ml.Data.LoadMnist(MnistSplit.Train), 320);
        var test = ml.Data.TakeRows(ml.Data.LoadMnist(MnistSplit.Test), 20);
        float[][] Latents(VaeEncoderOptions o) => ml.Transforms.EncodeToLatent(o).Fit(train).Transform(test).GetColumn<float[]>("Latent").ToArray();
        var without = Latents(Options(0, start: 0));
        var lines = new List<string>();
        // 3 epochs of 10 steps: a start at step 1,000 is never reached; the discriminator exists but nothing it does reaches the VAE.
        Assert.Equal(without, Latents(Options(0.5, start: 1000, lines)));
        Assert.Contains(lines, l => l.Contains("Adversarial term: no step reached its start"));
        Assert.NotEqual(without, Latents(Options(0.5, start: 10)));
    }

    [Fact]
    public void Adversarial_settings_out_of_range_are_refused_by_name()
    {
        var weight = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.EncodeToLatent(new VaeEncoderOptions { AdversarialWeight = -0.5 }));
        Assert.Equal("AdversarialWeight", weight.ParamName);
        Assert.Contains("VaeEncoderOptions.AdversarialWeight", weight.Message);
        var start = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.EncodeToLatent(new VaeEncoderOptions { AdversarialStart = -1 }));
        Assert.Equal("AdversarialStart", start.ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.EncodeToLatent(new VaeEncoderOptions { AdversarialWeight = double.NaN }));
    }
}
