using LatentDiffusion.Diffusion;
using LatentDiffusion.Diffusion.Samplers;
using LatentDiffusion.MLNet.Denoising;
using LatentDiffusion.MLNet.Evaluation;
using LatentDiffusion.MLNet.Generation;
using LatentDiffusion.Models;
using LatentDiffusion.Models.Denoisers;
using LatentDiffusion.Tests.Diffusion;
using Microsoft.ML;
using Microsoft.ML.Data;
using static TorchSharp.torch;

namespace LatentDiffusion.Tests.MLNet;

/// <summary>
/// Each lazy value is computed once per row: a generator feeding an FID evaluator, read for every column through
/// CreateEnumerable or a PredictionEngine, makes exactly the network passes one generation needs.
/// </summary>
public class LazyEvaluationTests
{
    private readonly MLContext ml = new(1);

    private sealed class Request
    {
        public int Label { get; set; }
        public long Seed { get; set; }
    }

    private sealed class Scored
    {
        public int Label { get; set; }
        public long Seed { get; set; }
        [VectorType(64)] public float[] Image { get; set; } = [];
        [VectorType(128)] public float[] Features { get; set; } = [];
        public int PredictedLabel { get; set; }
        [VectorType(3)] public float[] Score { get; set; } = [];
    }

    private sealed class Digit
    {
        public int Label { get; set; }
        [VectorType(64)] public float[] Image { get; set; } = [];
    }

    /// <summary>A pixel-space generator of 8x8 images whose denoiser counts its rows, and an FID classifier for 8x8 images.</summary>
    private (DigitGeneratorTransformer Generator, CountingDenoiser Counter, FidEvaluatorTransformer Fid, int Passes) Chain()
    {
        manual_seed(3);
        var config = new DiffusionModelConfig { Denoiser = new DenoiserConfig { DataShape = [1, 8, 8], Width = 8, Classes = 3 }, Timesteps = 50 };
        var network = DenoiserNetworks.Create(config.Denoiser, CPU);
        network.eval();
        var counter = new CountingDenoiser(network);
        var sampling = new SamplingOptions { Sampler = new DdimSampler { Steps = 4 }, GuidanceScale = 2, BatchSize = 5 };
        var diffusion = new DiffusionModel(config, counter, null, CPU);
        var generator = new DigitGeneratorTransformer(new LatentDiffusionTransformer(diffusion, new LatentDiffusionTransformer.Settings { Sampling = sampling }), null, "Image");
        var random = new Random(2);
        var digits = Enumerable.Range(0, 48).Select(i => new Digit { Label = i % 3, Image = Enumerable.Range(0, 64).Select(_ => (float)random.NextDouble()).ToArray() });
        var fid = ml.Transforms.FidEvaluator(new FidEvaluatorOptions { Epochs = 1, BatchSize = 16, Classes = 3 }).Fit(ml.Data.LoadFromEnumerable(digits));
        return (generator, counter, fid, diffusion.Passes(sampling).Denoiser);
    }

    [Fact]
    public void Reading_every_column_of_a_generator_to_fid_chain_generates_each_image_once()
    {
        var (generator, counter, fid, passes) = Chain();
        var requests = ml.Data.LoadFromEnumerable(Enumerable.Range(0, 12).Select(i => new Request { Label = i % 3, Seed = 100 + i }));
        var rows = ml.Data.CreateEnumerable<Scored>(fid.Transform(generator.Transform(requests)), reuseRowObject: false).ToList();

        Assert.Equal(12, rows.Count);
        Assert.Equal(12L * passes, counter.Rows);
        // The passed-through request columns stay with their own rows across the batches.
        Assert.Equal(Enumerable.Range(0, 12).Select(i => 100L + i), rows.Select(r => r.Seed));
        Assert.Equal(Enumerable.Range(0, 12).Select(i => i % 3), rows.Select(r => r.Label));
        Assert.Equal(generator.Generate([0, 1, 2], [100, 101, 102]), rows.Take(3).SelectMany(r => r.Image));
    }

    [Fact]
    public void A_prediction_engine_row_is_computed_once_for_all_of_its_outputs()
    {
        var (generator, counter, fid, passes) = Chain();
        var chain = new TransformerChain<ITransformer>(generator, fid);
        var engine = ml.Model.CreatePredictionEngine<Request, Scored>(chain);

        var first = engine.Predict(new Request { Label = 1, Seed = 7 });
        Assert.Equal(passes, counter.Rows);
        var second = engine.Predict(new Request { Label = 2, Seed = 8 });
        Assert.Equal(2L * passes, counter.Rows);

        Assert.Equal(generator.Generate([1], [7]), first.Image);
        Assert.Equal(generator.Generate([2], [8]), second.Image);
    }
}
