using LatentDiffusion.MLNet.Autoencoder;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;

namespace LatentDiffusion.Tests.MLNet;

[Trait("Data", "MNIST")]
public class ImageAnalyticsTests(TinyModels models) : IClassFixture<TinyModels>, IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("ld-png-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private sealed class ImageFile
    {
        public string Path { get; set; } = "";
    }

    private string[] WriteDigits(int count)
    {
        var digits = models.Test.GetColumn<float[]>("Image").Take(count).ToArray();
        var paths = new List<string>();
        for (int i = 0; i < count; i++)
        {
            var rgba = new byte[28 * 28 * 4];
            for (int p = 0; p < 784; p++)
            {
                byte v = (byte)Math.Round(digits[i][p] * 255);
                rgba[4 * p] = rgba[4 * p + 1] = rgba[4 * p + 2] = v;
                rgba[4 * p + 3] = 255;
            }
            using var image = MLImage.CreateFromPixels(28, 28, MLPixelFormat.Rgba32, rgba);
            string path = Path.Combine(folder, $"digit{i:D2}.png");
            image.Save(path);
            paths.Add(path);
        }
        return [.. paths];
    }

    [Fact]
    public void The_vae_trains_from_a_folder_of_pngs_through_image_analytics_and_the_mixed_chain_round_trips()
    {
        var ml = models.Context;
        var files = ml.Data.LoadFromEnumerable(WriteDigits(16).Select(p => new ImageFile { Path = Path.GetFileName(p) }));
        var pipeline = ml.Transforms.LoadImages("Picture", folder, nameof(ImageFile.Path))
            .Append(ml.Transforms.ResizeImages("Picture", 28, 28))
            .Append(ml.Transforms.ConvertToGrayscale("Picture"))
            .Append(ml.Transforms.ExtractPixels("Image", "Picture", ImagePixelExtractingEstimator.ColorBits.Blue, scaleImage: 1f / 255))
            .Append(ml.Transforms.EncodeToLatent(new VaeEncoderOptions { Epochs = 1, Width = 8, BatchSize = 8 }));

        var model = pipeline.Fit(files);
        var pixels = model.Transform(files).GetColumn<float[]>("Image").First();
        var original = models.Test.GetColumn<float[]>("Image").First();
        for (int p = 0; p < 784; p++) Assert.Equal(original[p], pixels[p], 2);
        var latents = model.Transform(files).GetColumn<float[]>("Latent").ToArray();
        Assert.Equal(16, latents.Length);
        Assert.All(latents, l => Assert.Equal(196, l.Length));

        string path = Path.Combine(folder, "png-chain.zip");
        ml.Model.Save(model, files.Schema, path);
        var fresh = new MLContext(1);
        fresh.ComponentCatalog.RegisterLatentDiffusion();
        var loaded = fresh.Model.Load(path, out _);
        Assert.Equal(latents, loaded.Transform(files).GetColumn<float[]>("Latent").ToArray());
    }
}
