using LatentDiffusion.Data;
using LatentDiffusion.Metrics;
using LatentDiffusion.MLNet;
using LatentDiffusion.MLNet.Autoencoder;
using LatentDiffusion.MLNet.Evaluation;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace LatentDiffusion.Tests.MLNet;

/// <summary>
/// Public functions outside the estimators (issue 32): each bad argument gets one sentence naming it, the expected and
/// the actual, instead of a bare runtime error, a silent repair or a misleading figure.
/// </summary>
[Trait("Data", "MNIST")]
public class PublicEntryPointTests
{
    private readonly MLContext ml = new(1);

    [Fact]
    public void FromPixels_refuses_bad_sides_nan_and_values_far_outside_the_unit_range_and_clamps_rounding()
    {
        var negative = Assert.Throws<ArgumentOutOfRangeException>(() => MLImages.FromPixels(new float[784], 1, -28, -28));
        Assert.Equal("height", negative.ParamName);
        Assert.Contains("-28", negative.Message);
        var huge = Assert.Throws<ArgumentOutOfRangeException>(() => MLImages.FromPixels(new float[4], 1, 1 << 20, 1 << 20));
        Assert.Contains("larger than one image can be", huge.Message);
        var nan = Enumerable.Repeat(0.5f, 4).ToArray();
        nan[2] = float.NaN;
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => MLImages.FromPixels(nan, 1, 2, 2));
        Assert.Contains("Pixel value 2 is NaN", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => MLImages.FromPixels([0, 0.5f, 1.7f, 1], 1, 2, 2));
        // Rounding just outside the range is drawn at the range's end.
        using var image = MLImages.FromPixels([-1e-4f, 0.5f, 1.0001f, 1], 1, 2, 2);
        Assert.Equal([0f, 128 / 255f, 1f, 1f], MLImages.ToPixels(image, 1));
    }

    [Fact]
    public void FrechetDistance_refuses_zero_dimensions_and_non_finite_features_by_name()
    {
        var zero = Assert.Throws<ArgumentOutOfRangeException>(() => FrechetDistance.Compute([1, 2], [3, 4], 0));
        Assert.Equal("dims", zero.ParamName);
        var nan = Assert.Throws<ArgumentOutOfRangeException>(() => FrechetDistance.Compute([1, 2, float.NaN, 4], [1, 2, 3, 4], 2));
        Assert.Equal("a", nan.ParamName);
        Assert.Contains("NaN", nan.Message);
        Assert.Equal(0, FrechetDistance.Compute([1, 2, 3, 4, 5, 7], [1, 2, 3, 4, 5, 7], 2), 9);
    }

    [Fact]
    public void Kid_and_label_entropy_refuse_impossible_arguments_by_name()
    {
        float[] features = [.. Enumerable.Range(0, 40).Select(i => (float)Math.Sin(i))];
        var subsets = Assert.Throws<ArgumentOutOfRangeException>(() => SampleQuality.KernelDistance(features, features, 2, subsets: 0));
        Assert.Equal("subsets", subsets.ParamName);
        Assert.Contains("got 0", subsets.Message);
        Assert.Equal("dims", Assert.Throws<ArgumentOutOfRangeException>(() => SampleQuality.KernelDistance(features, features, 0)).ParamName);
        var label = Assert.Throws<ArgumentOutOfRangeException>(() => SampleQuality.LabelEntropy([0, 3, 10], 10));
        Assert.Contains("Predicted label 10", label.Message);
        Assert.Equal(Math.Log(2), SampleQuality.LabelEntropy([0, 1, 0, 1], 10), 12);
    }

    [Fact]
    public void SamplePrior_and_LoadToyData_refuse_counts_out_of_range_by_name()
    {
        var vae = ml.Transforms.EncodeToLatent(new VaeEncoderOptions { Epochs = 1, Width = 8, BatchSize = 64 }).Fit(ml.Data.TakeRows(ml.Data.LoadMnist(MnistSplit.Train), 200));
        var prior = Assert.Throws<ArgumentOutOfRangeException>(() => vae.SamplePrior(-1, 1));
        Assert.Equal("count", prior.ParamName);
        Assert.Contains("-1", prior.Message);
        Assert.Equal(2 * vae.Model.ImageSize, vae.SamplePrior(2, 1).Length);
        var rows = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Data.LoadToyData(ToyDataSet.MoonsAndCircles, int.MaxValue));
        Assert.Equal("rows", rows.ParamName);
        Assert.Contains(int.MaxValue.ToString(), rows.Message);
    }

    [Fact]
    public void Requested_labels_outside_the_classifiers_classes_are_refused_instead_of_counted_as_misses()
    {
        var digits = ml.Data.TakeRows(ml.Data.LoadMnist(MnistSplit.Train), 200);
        var classifier = ml.Transforms.FidEvaluator(new FidEvaluatorOptions { Epochs = 1, BatchSize = 64 }).Fit(digits);
        var shifted = ml.Data.LoadFromEnumerable(digits.GetColumn<float[]>("Image").Select((image, i) => new Labelled { Image = image, Label = i % 3 == 0 ? 12 : i % 10 }));
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => classifier.ComputeFeatures(shifted, labelColumn: "Label"));
        Assert.Contains("Column 'Label', row 0", e.Message);
        Assert.Contains("12", e.Message);
        Assert.Contains("0..9", e.Message);
    }

    private sealed class Labelled
    {
        [VectorType(784)]
        public float[] Image { get; set; } = [];
        public int Label { get; set; }
    }
}
