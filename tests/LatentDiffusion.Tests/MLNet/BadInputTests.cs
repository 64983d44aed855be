using LatentDiffusion.Diffusion.Samplers;
using LatentDiffusion.MLNet.Autoencoder;
using LatentDiffusion.MLNet.Denoising;
using LatentDiffusion.MLNet.Persistence;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace LatentDiffusion.Tests.MLNet;

public class BadInputTests
{
    private readonly MLContext ml = new(1);

    private sealed class SmallImage
    {
        public int Label { get; set; }
        [VectorType(50)]
        public float[] Image { get; set; } = [];
    }

    private sealed class NoImage
    {
        public int Label { get; set; }
        [VectorType(784)]
        public float[] Pixels { get; set; } = [];
    }

    private IDataView Digits(params (int Label, float Fill)[] rows) =>
        ml.Data.LoadFromEnumerable(rows.Select(r => new ImageRow { Label = r.Label, Image = Enumerable.Repeat(r.Fill, 784).ToArray() }));

    [Fact]
    public void A_missing_column_fails_before_training_and_names_it()
    {
        var data = ml.Data.LoadFromEnumerable(new[] { new NoImage { Pixels = new float[784] } });
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.FidEvaluator().Fit(data));
        Assert.Contains("'Image'", e.Message);
        Assert.Contains("'Pixels'", e.Message); // lists what is there
        Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.EncodeToLatent().GetOutputSchema(MLNetInternals.ShapeOf(data.Schema)));
    }

    [Fact]
    public void A_wrong_vector_size_names_the_column_the_expected_and_the_actual_size()
    {
        var data = ml.Data.LoadFromEnumerable(new[] { new SmallImage { Image = new float[50] } });
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.EncodeToLatent().Fit(data));
        Assert.Contains("'Image'", e.Message);
        Assert.Contains("50", e.Message);

        var latentTrainer = ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions { InputColumnName = "Image", DataShape = [4, 7, 7] });
        var shape = Assert.Throws<ArgumentOutOfRangeException>(() => latentTrainer.Fit(data));
        Assert.Contains("50", shape.Message);
        Assert.Contains("4, 7, 7", shape.Message);
    }

    [Fact]
    public void Nan_or_infinite_pixels_fail_naming_the_column_and_row()
    {
        var data = Digits((1, 0.5f), (2, float.NaN));
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.EncodeToLatent(new VaeEncoderOptions { Epochs = 1 }).Fit(data));
        Assert.Contains("'Image'", e.Message);
        Assert.Contains("row 1", e.Message);
        Assert.Contains("NaN", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.FidEvaluator().Fit(Digits((1, float.PositiveInfinity))));
    }

    [Fact]
    public void An_empty_view_fails_before_training()
    {
        var empty = Digits();
        var e = Assert.Throws<ArgumentException>(() => ml.Transforms.EncodeToLatent().Fit(empty));
        Assert.Contains("no rows", e.Message);
        Assert.Contains("'Image'", e.Message);
    }

    [Fact]
    public void Labels_outside_the_declared_range_fail_naming_the_range()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.FidEvaluator().Fit(Digits((3, 0.1f), (11, 0.2f))));
        Assert.Contains("'Label'", e.Message);
        Assert.Contains("11", e.Message);
        Assert.Contains("0..9", e.Message);
    }

    [Fact]
    public void Negative_sampling_steps_are_rejected_when_the_trainer_is_built()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() =>
            ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions { Sampling = new() { Sampler = new DdimSampler { Steps = -1 } } }));
        Assert.Contains("Steps", e.Message);
    }
}
