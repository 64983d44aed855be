using LatentDiffusion.Data;
using LatentDiffusion.Diffusion;
using LatentDiffusion.Diffusion.Samplers;
using LatentDiffusion.MLNet.Autoencoder;
using LatentDiffusion.MLNet.Denoising;
using LatentDiffusion.MLNet.Generation;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace LatentDiffusion.Tests.MLNet;

/// <summary>Small real models, fitted once per test class on a slice of real MNIST.</summary>
public sealed class TinyModels
{
    public TinyModels()
    {
        Context = new MLContext(1);
        Train = Context.Data.TakeRows(Context.Data.LoadMnist(MnistSplit.Train), 1000);
        Test = Context.Data.TakeRows(Context.Data.LoadMnist(MnistSplit.Test), 300);
        var vae = Context.Transforms.EncodeToLatent(new VaeEncoderOptions { Epochs = 3, Width = 16, BatchSize = 32 });
        var diffusion = Context.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions { Epochs = 1, Width = 8, Timesteps = 100, Sampling = Sampling });
        // The two learners as a chain, and the generator wrapping what they fitted: the chain a user saves whole.
        var parts = vae.Append(diffusion).Fit(Train);
        var generator = Context.Transforms.GenerateDigits(parts.LastTransformer, parts.OfType<VaeEncoderTransformer>().Single(),
            new DigitGeneratorOptions { Sampling = Sampling }).Fit(Requests(1));
        Model = new TransformerChain<DigitGeneratorTransformer>([.. parts, generator]);
    }

    public static SamplingOptions Sampling => new() { Sampler = new DdimSampler { Steps = 4 }, BatchSize = 16 };
    public MLContext Context { get; }
    public IDataView Train { get; }
    public IDataView Test { get; }
    public TransformerChain<DigitGeneratorTransformer> Model { get; }
    public VaeEncoderTransformer Vae => Model.OfType<VaeEncoderTransformer>().Single();
    public LatentDiffusionTransformer Diffusion => Model.OfType<LatentDiffusionTransformer>().Single();
    public DigitGeneratorTransformer Generator => Model.LastTransformer;

    public IDataView Requests(int count, int firstSeed = 0) =>
        Context.Data.LoadFromEnumerable(Enumerable.Range(0, count).Select(i => new Request { Label = i % 10, Seed = firstSeed + i }));

    public static float[][] Images(IDataView view, string column = "GeneratedImage") =>
        view.GetColumn<float[]>(column).ToArray();
}

public sealed class Request
{
    public int Label { get; set; }
    public long Seed { get; set; }
}

public sealed class GeneratedDigit
{
    [VectorType(784)]
    public float[] GeneratedImage { get; set; } = [];
}

public sealed class ImageRow
{
    public int Label { get; set; }

    [VectorType(784)]
    public float[] Image { get; set; } = [];
}
