using LatentDiffusion.MLNet;
using LatentDiffusion.MLNet.Autoencoder;
using LatentDiffusion.MLNet.Generation;
using Microsoft.ML;
using Microsoft.ML.Data;
using MnistLatentDiffusion.CommandLine;

namespace MnistLatentDiffusion.Jobs;

/// <summary>The image sets the main job scores: generated ones, flawed test digits, noise with the data's moments, reconstructions.</summary>
internal static class ImageSets
{
    public const int Size = 784;

    /// <summary>The images <paramref name="generator"/> makes for <paramref name="requests"/>, read through its IDataView path, one after another.</summary>
    public static float[] Generate(MLContext ml, DigitGeneratorTransformer generator, IEnumerable<GenerationRequest> requests, string stage, int count,
        IProgress<StageProgress>? stages, CancellationToken token)
    {
        var view = generator.Transform(ml.Data.LoadFromEnumerable(requests));
        var result = new float[count * Size];
        int i = 0;
        foreach (var image in WithProgress(view.GetColumn<float[]>(generator.OutputColumnName), stage, count, stages, token)) image.CopyTo(result, Size * i++);
        return result;
    }

    /// <summary>The rows of a generating view as they are read, reporting progress and stopping when cancelled.</summary>
    private static IEnumerable<float[]> WithProgress(IEnumerable<float[]> rows, string stage, int total, IProgress<StageProgress>? stages,
        CancellationToken token)
    {
        int done = 0;
        foreach (var row in rows)
        {
            token.ThrowIfCancellationRequested();
            if (++done % 256 == 0 || done == total) stages?.Report(new StageProgress(stage, done, total));
            yield return row;
        }
    }

    /// <summary>Every image of <paramref name="view"/>'s Image column, row after row.</summary>
    public static float[] Images(IDataView view) => view.GetColumn<float[]>("Image").SelectMany(v => v).ToArray();

    /// <summary>28x28 images blurred by the separable kernel [1 2 1]/4 (zeros outside).</summary>
    public static float[] Blur(float[] images)
    {
        var result = new float[images.Length];
        var row = new float[Size];
        for (int offset = 0; offset < images.Length; offset += Size)
        {
            for (int y = 0; y < 28; y++)
                for (int x = 0; x < 28; x++)
                    row[y * 28 + x] = (2 * images[offset + y * 28 + x] + (x > 0 ? images[offset + y * 28 + x - 1] : 0)
                        + (x < 27 ? images[offset + y * 28 + x + 1] : 0)) / 4;
            for (int y = 0; y < 28; y++)
                for (int x = 0; x < 28; x++)
                    result[offset + y * 28 + x] = (2 * row[y * 28 + x] + (y > 0 ? row[(y - 1) * 28 + x] : 0) + (y < 27 ? row[(y + 1) * 28 + x] : 0)) / 4;
        }
        return result;
    }

    /// <summary>Images with Gaussian noise of standard deviation <paramref name="std"/> added, clipped to [0, 1].</summary>
    public static float[] AddNoise(float[] images, double std, int seed)
    {
        var random = new Random(seed);
        return images.Select(v => (float)Math.Clamp(v + std * random.NextGaussian(), 0, 1)).ToArray();
    }

    /// <summary>The per-pixel mean and standard deviation of <paramref name="train"/>'s images, read once.</summary>
    public static (double[] Mean, double[] Std) PixelMoments(IDataView train)
    {
        var mean = new double[Size];
        var sq = new double[Size];
        long rows = 0;
        using (var cursor = train.GetRowCursor([train.Schema["Image"]]))
        {
            var getter = cursor.GetGetter<VBuffer<float>>(train.Schema["Image"]);
            VBuffer<float> v = default;
            while (cursor.MoveNext())
            {
                getter(ref v);
                var values = v.GetValues();
                for (int i = 0; i < Size; i++) { mean[i] += values[i]; sq[i] += values[i] * (double)values[i]; }
                rows++;
            }
        }
        for (int i = 0; i < Size; i++)
        {
            mean[i] /= rows;
            sq[i] = Math.Sqrt(Math.Max(sq[i] / rows - mean[i] * mean[i], 0));
        }
        return (mean, sq);
    }

    /// <summary>Gaussian noise with the training set's per-pixel mean and standard deviation (the seed's "Random" row).</summary>
    public static float[] RandomImages((double[] Mean, double[] Std) moments, int count, int seed)
    {
        var random = new Random(seed);
        var result = new float[count * Size];
        for (int r = 0; r < count; r++)
            for (int i = 0; i < Size; i++)
                result[r * Size + i] = (float)(moments.Mean[i] + moments.Std[i] * random.NextGaussian());
        return result;
    }

    /// <summary>decode(encode(x)) for every image of <paramref name="images"/>.</summary>
    public static float[] Reconstruct(VaeEncoderTransformer vae, IDataView images)
    {
        var latents = vae.Transform(images).GetColumn<float[]>(vae.LatentColumnName).SelectMany(z => z).ToArray();
        return vae.Decode(latents, latents.Length / (vae.LatentShape[0] * vae.LatentShape[1] * vae.LatentShape[2]));
    }

    public static IDataView View(MLContext ml, float[] images) =>
        ml.Data.LoadFromEnumerable(Enumerable.Range(0, images.Length / Size).Select(i => new ImageRow { Image = images[(i * Size)..((i + 1) * Size)] }));

    /// <summary>Generated images with the labels they asked for.</summary>
    public static IDataView LabeledView(MLContext ml, float[] images, int classes) =>
        ml.Data.LoadFromEnumerable(Enumerable.Range(0, images.Length / Size)
            .Select(i => new LabeledImageRow { Label = i % classes, Image = images[(i * Size)..((i + 1) * Size)] }));
}

/// <summary>A generated image with the label it was asked for.</summary>
public sealed class LabeledImageRow
{
    public int Label { get; set; }
    [VectorType(784)]
    public float[] Image { get; set; } = [];
}

/// <summary>A row holding one 28x28 image.</summary>
public sealed class ImageRow
{
    [VectorType(784)]
    public float[] Image { get; set; } = [];
}

internal static class RandomExtensions
{
    public static double NextGaussian(this Random random)
    {
        double u = 1 - random.NextDouble(), v = random.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u)) * Math.Cos(2 * Math.PI * v);
    }
}
