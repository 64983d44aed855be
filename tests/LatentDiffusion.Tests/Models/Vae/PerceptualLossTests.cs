using System.Globalization;
using LatentDiffusion.Data;
using LatentDiffusion.MLNet.Autoencoder;
using Microsoft.ML;

namespace LatentDiffusion.Tests.Models.Vae;

/// <summary>The VAE's perceptual term (issue 26): it pulls reconstructions towards their images in its network's feature space, and bad settings are refused by name.</summary>
[Trait("Data", "MNIST")]
public class PerceptualLossTests
{
    private readonly MLContext ml = new(1);

    private static double LoggedDistance(List<string> lines)
    {
        var line = lines.Single(l => l.Contains("Perceptual distance of the held-out images' reconstructions"));
        return double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
    }

    [Fact]
    public void A_weighted_perceptual_term_brings_reconstructions_closer_in_its_feature_space()
    {
        var train = ml.Data.TakeRows(ml.Data.LoadMnist(MnistSplit.Train), 640);
        double Distance(double weight)
        {
            var lines = new List<string>();
            ml.Transforms.EncodeToLatent(new VaeEncoderOptions
            {
                Epochs = 3, Width = 16, BatchSize = 32, ValidationFraction = 0.1, PerceptualWeight = weight, PerceptualLabelColumnName = "Label",
                Logger = new ListLogger(lines),
            }).Fit(train);
            Assert.Contains(lines, l => l.Contains("Small perceptual feature network"));
            return LoggedDistance(lines);
        }
        // The same feature network (its own seed, the same data) in both runs; only the term's weight differs.
        double negligible = Distance(1e-9), weighted = Distance(20);
        Assert.True(weighted < 0.8 * negligible, $"perceptual distance {weighted} with weight 20, {negligible} with weight 1e-9");
    }

    [Fact]
    public void A_perceptual_weight_without_its_label_column_is_refused_naming_the_option_and_the_column()
    {
        var e = Assert.Throws<ArgumentException>(() => ml.Transforms.EncodeToLatent(new VaeEncoderOptions { PerceptualWeight = 1 }));
        Assert.Contains("VaeEncoderOptions.PerceptualLabelColumnName", e.Message);
        var negative = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.EncodeToLatent(new VaeEncoderOptions { PerceptualWeight = -1 }));
        Assert.Contains("PerceptualWeight", negative.Message);

        var train = ml.Data.TakeRows(ml.Data.LoadMnist(MnistSplit.Train), 64);
        var missing = Assert.ThrowsAny<ArgumentException>(() =>
            ml.Transforms.EncodeToLatent(new VaeEncoderOptions { Epochs = 1, Width = 8, PerceptualWeight = 1, PerceptualLabelColumnName = "Digit" }).Fit(train));
        Assert.Contains("Digit", missing.Message);
    }
}
