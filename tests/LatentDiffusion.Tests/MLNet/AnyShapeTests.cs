using LatentDiffusion.Data;
using LatentDiffusion.Diffusion;
using LatentDiffusion.Diffusion.Samplers;
using LatentDiffusion.MLNet;
using LatentDiffusion.MLNet.Autoencoder;
using LatentDiffusion.MLNet.Denoising;
using LatentDiffusion.MLNet.Evaluation;
using LatentDiffusion.MLNet.Generation;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;
using MnistLatentDiffusion.Jobs;

namespace LatentDiffusion.Tests.MLNet;

/// <summary>Images of any shape: colour and grey, sides that are not equal or divisible by 4, through every component and ImageAnalytics both ways.</summary>
[Trait("Data", "MNIST")]
public class AnyShapeTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("ld-shapes-").FullName;
    private readonly MLContext ml = new(1);

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private sealed class Pixels
    {
        [VectorType(3 * 5 * 7)] public float[] Image { get; set; } = [];
    }

    [Fact]
    public void Generated_vectors_become_ml_images_and_come_back_by_value()
    {
        var random = new Random(4);
        var values = Enumerable.Range(0, 3 * 5 * 7).Select(_ => (float)Math.Round(random.NextDouble() * 255) / 255f).ToArray();
        var view = ml.Data.LoadFromEnumerable(new[] { new Pixels { Image = values } });

        // ML.NET's ConvertToImage multiplies by its scale: with ExtractPixels' 1/255 every pixel is 0 (what users saw);
        // with 255 the colours are right but alpha is 0, so a saved PNG is transparent.
        MLImage Converted(float scale)
        {
            var converted = ml.Transforms.ConvertToImage(5, 7, "Picture", "Image", ImagePixelExtractingEstimator.ColorBits.Rgb, scaleImage: scale).Fit(view).Transform(view);
            using var cursor = converted.GetRowCursor([converted.Schema["Picture"]]);
            var getter = cursor.GetGetter<MLImage>(converted.Schema["Picture"]);
            MLImage image = null!;
            cursor.MoveNext();
            getter(ref image);
            return MLImage.CreateFromPixels(image.Width, image.Height, image.PixelFormat, image.Pixels.ToArray());
        }
        Assert.All(Converted(1f / 255).Pixels.ToArray(), b => Assert.Equal(0, b));
        var mlNet = Converted(255f);
        Assert.Equal(values, MLImages.ToPixels(mlNet, 3));
        Assert.All(Enumerable.Range(0, 35), p => Assert.Equal(0, mlNet.Pixels[4 * p + 3]));

        // Ours: opaque, and ExtractPixels reads back the same values.
        using var image = MLImages.FromPixels(values, 3, 5, 7);
        Assert.Equal((7, 5), (image.Width, image.Height));
        Assert.All(Enumerable.Range(0, 35), p => Assert.Equal(255, image.Pixels[4 * p + 3]));
        Assert.Equal(values, MLImages.ToPixels(image, 3));
        string path = Path.Combine(folder, "round.png");
        image.Save(path);
        var files = ml.Data.LoadFromEnumerable(new[] { new ShapeFile { Path = "round.png" } });
        var extracted = ml.Transforms.LoadImages("Picture", folder, nameof(ShapeFile.Path))
            .Append(ml.Transforms.ResizeImages("Picture", 7, 5))
            .Append(ml.Transforms.ExtractPixels("Back", "Picture", ImagePixelExtractingEstimator.ColorBits.Rgb, scaleImage: 1f / 255))
            .Fit(files).Transform(files).GetColumn<float[]>("Back").Single();
        Assert.All(values.Zip(extracted), p => Assert.Equal(p.First, p.Second, 1e-6f));

        // Grey: one channel in, red = green = blue out.
        using var grey = MLImages.FromPixels(values[..35], 1, 5, 7);
        Assert.Equal(values[..35], MLImages.ToPixels(grey, 1));
    }

    [Fact]
    public void Colour_images_with_uneven_sides_train_save_load_generate_score_and_convert()
    {
        const int height = 10, width = 14;   // neither divisible by 4
        var files = ml.Data.LoadFromEnumerable(ColourShapes.Write(folder, 150, height, width, seed: 2)
            .Select(f => new ShapeFile { Path = Path.GetFileName(f.Path), Label = f.Label }));
        var images = ml.Transforms.LoadImages("Picture", folder, nameof(ShapeFile.Path))
            .Append(ml.Transforms.ResizeImages("Picture", width, height))   // the size the files have: ExtractPixels needs it known
            .Append(ml.Transforms.ExtractPixels("Image", "Picture", ImagePixelExtractingEstimator.ColorBits.Rgb, scaleImage: 1f / 255))
            .Fit(files).Transform(files);
        var data = ml.Data.Cache(images);

        var vae = ml.Transforms.EncodeToLatent(new VaeEncoderOptions { ImageShape = [3, height, width], Downsampling = 2, Width = 16, Epochs = 30, BatchSize = 16 });
        var diffusion = ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions
        {
            Classes = 3, Width = 8, Epochs = 2, Timesteps = 50, BatchSize = 16, Sampling = new SamplingOptions { Sampler = new DdimSampler { Steps = 4 }, GuidanceScale = 2 },
        });
        var model = ml.Transforms.GenerateDigits(diffusion, vae, new DigitGeneratorOptions { Sampling = new SamplingOptions { Sampler = new DdimSampler { Steps = 4 }, GuidanceScale = 2 } }).Fit(data);
        var encoder = model.Vae!;
        Assert.Equal([3, height, width], encoder.ImageShape);
        Assert.Equal([4, 5, 7], encoder.LatentShape);   // padded to 10 x 14, halved
        var pixels = data.GetColumn<float[]>("Image").SelectMany(v => v).ToArray();
        // The padded and cropped VAE learns: its reconstructions beat the mean image by far.
        double mean = pixels.Average(), variance = pixels.Average(p => (p - mean) * (p - mean));
        Assert.InRange(encoder.ReconstructionMse(data), 0, variance / 2);

        var requests = ml.Data.LoadFromEnumerable(Enumerable.Range(0, 6).Select(i => new Request { Label = i % 3, Seed = i }));
        var generated = model.Transform(requests);
        var column = generated.Schema["GeneratedImage"];
        Assert.Equal(3 * height * width, ((VectorDataViewType)column.Type).Size);
        Assert.Equal([3, height, width], ShapeAnnotation.Read(column)!);
        var outputs = generated.GetColumn<float[]>("GeneratedImage").ToArray();
        Assert.All(outputs.SelectMany(v => v), v => Assert.InRange(v, 0f, 1f));

        string path = Path.Combine(folder, "colour.zip");
        ml.Model.Save(model, data.Schema, path);
        var fresh = new MLContext(2);
        fresh.ComponentCatalog.RegisterLatentDiffusion();
        var loaded = fresh.Model.Load(path, out _);
        Assert.Equal(outputs, loaded.Transform(requests).GetColumn<float[]>("GeneratedImage").ToArray());

        // The FID instrument on the same shape of image.
        var fid = ml.Transforms.FidEvaluator(new FidEvaluatorOptions { ImageShape = [3, height, width], Classes = 3, Epochs = 2, BatchSize = 16 }).Fit(data);
        Assert.Equal([3, height, width], fid.ImageShape);
        var metrics = fid.Evaluate(generated, data, generatedImageColumn: "GeneratedImage", requestedLabelColumn: "Label");
        Assert.True(double.IsFinite(metrics.Fid) && metrics.Fid >= 0);
        Assert.NotNull(metrics.ConditionalAccuracy);

        // Back to images by value.
        foreach (var image in outputs)
        {
            using var picture = MLImages.FromPixels(image, 3, height, width);
            var back = MLImages.ToPixels(picture, 3);
            Assert.All(image.Zip(back), p => Assert.Equal(p.First, p.Second, 1f / 510));
        }
    }

    [Fact]
    public void Pixel_space_diffusion_needs_no_vae_and_round_trips()
    {
        var train = ml.Data.TakeRows(ml.Data.LoadMnist(MnistSplit.Train), 300);
        Assert.Equal([1, 28, 28], ShapeAnnotation.Read(train.Schema["Image"])!);
        var diffusion = ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions
        {
            InputColumnName = "Image", Width = 8, Levels = 3, Epochs = 1, Timesteps = 50, BatchSize = 32, Sampling = new SamplingOptions { Sampler = new DdimSampler { Steps = 4 } },
        });
        var model = ml.Transforms.GenerateDigits(diffusion, new DigitGeneratorOptions { Sampling = new SamplingOptions { Sampler = new DdimSampler { Steps = 4 } } }).Fit(train);
        var trained = model.Diffusion;
        Assert.Equal(LatentDiffusion.Models.DenoiserKind.UNet, trained.Config.Denoiser.Kind);
        Assert.Equal(3, trained.Config.Denoiser.Levels);
        Assert.Single(trained.Config.DataShift);       // pixels standardised per channel: one channel
        var generator = model;
        Assert.Null(generator.Vae);
        Assert.Equal([1, 28, 28], generator.ImageShape);

        var requests = ml.Data.LoadFromEnumerable(Enumerable.Range(0, 5).Select(i => new Request { Label = i, Seed = i }));
        var images = generator.Transform(requests).GetColumn<float[]>("GeneratedImage").ToArray();
        Assert.All(images, image => Assert.Equal(784, image.Length));
        Assert.All(images.SelectMany(v => v), v => Assert.InRange(v, 0f, 1f));
        string path = Path.Combine(folder, "pixels.zip");
        ml.Model.Save(generator, requests.Schema, path);
        var fresh = new MLContext(2);
        fresh.ComponentCatalog.RegisterLatentDiffusion();
        Assert.Equal(images, fresh.Model.Load(path, out _).Transform(requests).GetColumn<float[]>("GeneratedImage").ToArray());
    }
}
