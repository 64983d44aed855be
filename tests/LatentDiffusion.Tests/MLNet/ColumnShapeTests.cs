using LatentDiffusion.Diffusion;
using LatentDiffusion.Diffusion.Samplers;
using LatentDiffusion.MLNet.Autoencoder;
using LatentDiffusion.MLNet.Denoising;
using LatentDiffusion.MLNet.Evaluation;
using LatentDiffusion.Models;
using Microsoft.Extensions.Logging;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace LatentDiffusion.Tests.MLNet;

/// <summary>
/// One shape source: an option, our Shape annotation, or ML.NET's own vector type (ExtractPixels types its column
/// [planes, height, width]); every component reads it the same way, and pixel mode picks its network from it.
/// </summary>
public class ColumnShapeTests
{
    private const int Height = 8, Width = 12, Rows = 96;
    private readonly MLContext ml = new(1);

    private sealed class Typed
    {
        public int Label { get; set; }
        [VectorType(1, Height, Width)] public float[] Image { get; set; } = [];
    }

    private sealed class Flat
    {
        public int Label { get; set; }
        [VectorType(Height * Width)] public float[] Image { get; set; } = [];
    }

    private sealed class Interleaved
    {
        [VectorType(Height, Width, 3)] public float[] Image { get; set; } = [];
    }

    private sealed class Colour
    {
        [VectorType(3, Height, Width)] public float[] Image { get; set; } = [];
    }

    /// <summary>A bright bar per label (horizontal for even labels, vertical for odd), at a position drawn from a seeded generator.</summary>
    private static List<(int Label, float[] Pixels)> Bars()
    {
        var random = new Random(3);
        var rows = new List<(int, float[])>();
        for (int i = 0; i < Rows; i++)
        {
            int label = i % 2;
            var pixels = new float[Height * Width];
            int at = random.Next(1, label == 0 ? Height - 1 : Width - 1);
            for (int y = 0; y < Height; y++)
                for (int x = 0; x < Width; x++)
                    if (label == 0 ? y == at : x == at) pixels[y * Width + x] = 1;
            rows.Add((label, pixels));
        }
        return rows;
    }

    private IDataView TypedView() => ml.Data.LoadFromEnumerable(Bars().Select(b => new Typed { Label = b.Label, Image = b.Pixels }));

    private IDataView FlatView() => ml.Data.LoadFromEnumerable(Bars().Select(b => new Flat { Label = b.Label, Image = b.Pixels }));

    private static LatentDiffusionOptions Pixels(int[]? shape = null, ILogger? log = null) => new()
    {
        InputColumnName = "Image", DataShape = shape, Width = 8, Epochs = 1, BatchSize = 32, Timesteps = 50, Logger = log,
        Sampling = new SamplingOptions { Sampler = new DdimSampler { Steps = 4 } },
    };

    [Fact]
    public void A_shape_taken_from_the_column_type_gives_the_same_models_as_the_shape_given_explicitly()
    {
        var fromType = ml.Transforms.EncodeToLatent(new VaeEncoderOptions { Epochs = 1, Width = 8, BatchSize = 32 }).Fit(TypedView());
        var given = ml.Transforms.EncodeToLatent(new VaeEncoderOptions { Epochs = 1, Width = 8, BatchSize = 32, ImageShape = [1, Height, Width] })
            .Fit(FlatView());
        Assert.Equal([1, Height, Width], fromType.ImageShape);
        Assert.Equal(given.Transform(FlatView()).GetColumn<float[]>("Latent").ToArray(), fromType.Transform(TypedView()).GetColumn<float[]>("Latent").ToArray());

        var pixelsFromType = ml.Transforms.TrainLatentDiffusion(Pixels()).Fit(TypedView());
        var pixelsGiven = ml.Transforms.TrainLatentDiffusion(Pixels([1, Height, Width])).Fit(FlatView());
        Assert.Equal(System.Text.Json.JsonSerializer.Serialize(pixelsGiven.Config), System.Text.Json.JsonSerializer.Serialize(pixelsFromType.Config));
        Assert.Equal(pixelsGiven.Sample([0, 1], [5, 6]), pixelsFromType.Sample([0, 1], [5, 6]));

        var fid = ml.Transforms.FidEvaluator(new FidEvaluatorOptions { Epochs = 1, BatchSize = 32, Classes = 2 }).Fit(TypedView());
        Assert.Equal([1, Height, Width], fid.ImageShape);
    }

    [Fact]
    public void Pixel_mode_on_an_image_column_builds_a_unet_and_a_column_without_a_shape_gets_the_mlp_and_the_log_says_why()
    {
        var lines = new List<string>();
        var log = new ListLogger(lines);
        var image = ml.Transforms.TrainLatentDiffusion(Pixels(log: log)).Fit(TypedView());
        Assert.Equal(DenoiserKind.UNet, image.Config.Denoiser.Kind);
        Assert.Contains(lines, l => l.Contains($"[1, {Height}, {Width}] (from its ML.NET vector type): the UNet denoiser (an image shape)"));

        lines.Clear();
        var vector = ml.Transforms.TrainLatentDiffusion(Pixels(log: log)).Fit(FlatView());
        Assert.Equal(DenoiserKind.Mlp, vector.Config.Denoiser.Kind);
        Assert.Contains(lines, l => l.Contains("declares no shape") || l.Contains("a plain vector; set LatentDiffusionOptions.DataShape"));
    }

    [Fact]
    public void Interleaved_pixels_are_refused_with_what_to_set()
    {
        var view = ml.Data.LoadFromEnumerable(Enumerable.Range(0, 4).Select(_ => new Interleaved { Image = new float[Height * Width * 3] }));
        var error = Assert.Throws<ArgumentOutOfRangeException>(() =>
            ml.Transforms.EncodeToLatent(new VaeEncoderOptions { Epochs = 1, Width = 8 }).Fit(view));
        Assert.Equal("Image", error.ParamName);
        Assert.Contains("interleavePixelColors: false", error.Message);
        Assert.Contains("VaeEncoderOptions.ImageShape", error.Message);
    }

    [Fact]
    public void A_flat_column_that_is_not_a_square_says_which_option_to_set()
    {
        var view = ml.Data.LoadFromEnumerable(Enumerable.Range(0, 4).Select(_ => new Flat { Image = new float[Height * Width] }));
        var error = Assert.Throws<ArgumentOutOfRangeException>(() =>
            ml.Transforms.EncodeToLatent(new VaeEncoderOptions { Epochs = 1, Width = 8 }).Fit(view));
        Assert.Equal("Image", error.ParamName);
        Assert.Contains("declares no shape", error.Message);
        Assert.Contains("set VaeEncoderOptions.ImageShape", error.Message);
    }

    [Fact]
    public void Grey_images_extracted_as_three_identical_planes_get_a_warning_and_colour_ones_do_not()
    {
        var lines = new List<string>();
        var log = new ListLogger(lines);
        var grey = Bars().Select(b => new Colour { Image = [.. b.Pixels, .. b.Pixels, .. b.Pixels] });
        var options = new VaeEncoderOptions { Epochs = 1, Width = 8, BatchSize = 32, Logger = log };
        ml.Transforms.EncodeToLatent(options).Fit(ml.Data.LoadFromEnumerable(grey));
        Assert.Contains(lines, l => l.Contains("three identical colour planes") && l.Contains("ColorBits.Red"));

        lines.Clear();
        var colour = Bars().Select(b => new Colour { Image = [.. b.Pixels, .. new float[Height * Width], .. b.Pixels] });
        ml.Transforms.EncodeToLatent(options).Fit(ml.Data.LoadFromEnumerable(colour));
        Assert.DoesNotContain(lines, l => l.Contains("identical colour planes"));
    }
}
