using LatentDiffusion.Data;
using LatentDiffusion.Diffusion;
using LatentDiffusion.Diffusion.Samplers;
using LatentDiffusion.MLNet;
using LatentDiffusion.MLNet.Autoencoder;
using LatentDiffusion.MLNet.Denoising;
using LatentDiffusion.MLNet.Evaluation;
using LatentDiffusion.Training;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace LatentDiffusion.Tests.MLNet;

[Trait("Data", "MNIST")]
public class ComponentTests(TinyModels models) : IClassFixture<TinyModels>
{
    [Fact]
    public void Vae_writes_a_latent_column_that_records_its_shape_and_decodes_back_to_pixels()
    {
        var encoded = models.Vae.Transform(models.Test);
        var column = encoded.Schema["Latent"];
        Assert.Equal(196, ((VectorDataViewType)column.Type).Size);
        VBuffer<int> shape = default;
        column.Annotations.GetValue(ShapeAnnotation.Name, ref shape);
        Assert.Equal([4, 7, 7], shape.DenseValues().ToArray());

        var latents = encoded.GetColumn<float[]>("Latent").Take(3).ToArray();
        var images = models.Vae.Decode(latents.SelectMany(l => l).ToArray(), 3);
        Assert.Equal(3 * 784, images.Length);
        Assert.All(images, p => Assert.InRange(p, 0f, 1f));
        var pixels = models.Test.GetColumn<float[]>("Image").SelectMany(x => x).ToArray();
        double blank = pixels.Average(p => p * (double)p); // the error of reconstructing every digit as a black image
        Assert.InRange(models.Vae.ReconstructionMse(models.Test), 0, blank);
    }

    [Fact]
    public void Vae_decodes_many_latents_in_chunks_that_match_decoding_each_row_alone()
    {
        const int rows = 1100; // more than two internal chunks, the last one partial
        var random = new Random(7);
        var latents = Enumerable.Range(0, rows * 196).Select(_ => (float)(random.NextDouble() * 4 - 2)).ToArray();
        var all = models.Vae.Decode(latents, rows);
        Assert.Equal(rows * 784, all.Length);
        foreach (int row in new[] { 0, 511, 512, 1099 })
        {
            var alone = models.Vae.Decode(latents[(row * 196)..((row + 1) * 196)], 1);
            for (int p = 0; p < 784; p++) Assert.Equal(alone[p], all[row * 784 + p], 1e-5f);
        }
    }

    [Fact]
    public void Vae_sample_output_is_seeded_per_row_and_differs_from_the_mean()
    {
        var sampling = models.Vae.WithOutput(LatentOutput.Sample);
        var a = sampling.Transform(models.Test).GetColumn<float[]>("Latent").Take(2).ToArray();
        var b = sampling.Transform(models.Test).GetColumn<float[]>("Latent").Take(2).ToArray();
        var mean = models.Vae.Transform(models.Test).GetColumn<float[]>("Latent").Take(2).ToArray();
        Assert.Equal(a[1], b[1]);
        Assert.NotEqual(a[1], mean[1]);
    }

    [Fact]
    public void Generator_gives_the_same_image_for_the_same_seed_and_label()
    {
        var first = TinyModels.Images(models.Generator.Transform(models.Requests(20)));
        var second = TinyModels.Images(models.Generator.Transform(models.Requests(20)));
        Assert.Equal(20, first.Length);
        Assert.Equal(first, second);
        Assert.All(first, image => Assert.Equal(784, image.Length));
        Assert.NotEqual(first[0], first[10]); // same label 0, other seed
    }

    [Fact]
    public void Requests_stream_through_in_batches_without_materialising_the_view()
    {
        // A million requests: only the batches actually read are pulled from the source and generated.
        int pulled = 0;
        var many = models.Context.Data.LoadFromEnumerable(Enumerable.Range(0, 1_000_000).Select(i => { Interlocked.Increment(ref pulled); return new Request { Label = i % 10, Seed = i }; }));
        var view = models.Generator.Transform(many);
        var firstFive = TinyModels.Images(models.Context.Data.TakeRows(view, 5));
        Assert.Equal(5, firstFive.Length);
        Assert.InRange(pulled, 5, 4 * TinyModels.Sampling.BatchSize); // one batch read ahead, plus the pass-through cursor
        // Same seed, same image; a different batch size may change the last bits of the convolutions.
        var alone = TinyModels.Images(models.Generator.Transform(models.Requests(5)))[4];
        for (int p = 0; p < 784; p++) Assert.InRange(Math.Abs(alone[p] - firstFive[4][p]), 0, 1e-5);
    }

    [Fact]
    public void Trajectory_has_the_noisy_state_and_the_prediction_of_each_step_ending_with_the_sample()
    {
        var trajectory = models.Generator.Trajectory([3, 7], [11, 12]);
        Assert.Equal(TinyModels.Sampling.Sampler.Steps, trajectory.Length);
        Assert.Equal(models.Generator.Generate([3, 7], [11, 12]), trajectory[^1].Predicted);
        Assert.NotEqual(trajectory[0].Noisy, trajectory[0].Predicted);
    }

    [Fact]
    public void A_label_out_of_range_fails_naming_the_column_and_the_range()
    {
        var bad = models.Context.Data.LoadFromEnumerable(new[] { new Request { Label = 12, Seed = 1 } });
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => TinyModels.Images(models.Generator.Transform(bad)));
        Assert.Contains("'Label'", e.Message);
        Assert.Contains("12", e.Message);
        Assert.Contains("0..9", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => models.Generator.Generate([-5], [1]));
    }

    [Fact]
    public void Prediction_engine_serves_single_requests()
    {
        var engine = models.Context.Model.CreatePredictionEngine<Request, GeneratedDigit>(models.Generator);
        var single = engine.Predict(new Request { Label = 4, Seed = 99 }).GeneratedImage;
        var other = engine.Predict(new Request { Label = 4, Seed = 100 }).GeneratedImage;
        var batch = models.Generator.Generate([4], [99]);
        Assert.Equal(784, single.Length);
        for (int i = 0; i < 784; i++) Assert.Equal(batch[i], single[i], 4);
        Assert.NotEqual(single, other);
    }

    [Fact]
    public void Transform_is_safe_from_several_threads_at_once()
    {
        var expected = TinyModels.Images(models.Generator.Transform(models.Requests(24)));
        var results = new float[8][][];
        Parallel.For(0, 8, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i => results[i] = TinyModels.Images(models.Generator.Transform(models.Requests(24))));
        Assert.All(results, r => Assert.Equal(expected, r));
    }

    [Fact]
    public void Fid_evaluator_adds_features_prediction_and_scores_to_any_image_view()
    {
        var evaluator = models.Context.Transforms.FidEvaluator(new FidEvaluatorOptions { Epochs = 3, BatchSize = 32 }).Fit(models.Train);
        var scored = evaluator.Transform(models.Test);
        Assert.Equal(128, ((VectorDataViewType)scored.Schema["Features"].Type).Size);
        Assert.Equal(10, ((VectorDataViewType)scored.Schema["Score"].Type).Size);
        var accuracy = evaluator.ComputeFeatures(models.Test, labelColumn: "Label").Accuracy;
        Assert.InRange(accuracy!.Value, 0.8, 1.0); // 3 epochs on 1,000 images

        var generated = models.Generator.Transform(models.Requests(100));
        var metrics = evaluator.Evaluate(generated, models.Test, "GeneratedImage", "Label");
        Assert.True(metrics.Fid > 0 && double.IsFinite(metrics.Fid));
        Assert.NotNull(metrics.ConditionalAccuracy);
        Assert.InRange(metrics.LabelEntropy, 0, Math.Log(10) + 1e-9);
        var self = evaluator.Evaluate(models.Test, models.Test);
        Assert.InRange(self.Fid, 0, 1e-6);
        Assert.True(metrics.Fid > self.Fid);
    }

    [Theory]
    [InlineData(TrainingPrecision.Float32)]
    [InlineData(TrainingPrecision.BFloat16)]
    public void Tiny_denoiser_learns_a_simple_latent_distribution(TrainingPrecision precision)
    {
        // Latents N(2, 0.5^2) per value, shape 1x2x2: sampled mean and spread must match within 0.15.
        var ml = new MLContext(1);
        var random = new Random(3);
        double Normal() => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
        var rows = Enumerable.Range(0, 3000).Select(_ => new LatentRow { Latent = Enumerable.Range(0, 4).Select(_ => (float)(2 + 0.5 * Normal())).ToArray() });
        var trained = ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions
        {
            LabelColumnName = null, DataShape = [1, 2, 2], Width = 16, Epochs = 12, BatchSize = 64, Timesteps = 200, LearningRate = 3e-3, EmaDecay = 0.95, Precision = precision,
            Sampling = new SamplingOptions { Sampler = new DdimSampler { Steps = 50 } },
        }).Fit(ml.Data.LoadFromEnumerable(rows));

        var samples = trained.Sample(Enumerable.Repeat(-1, 1000).ToArray(), Enumerable.Range(0, 1000).Select(i => (long)i).ToArray());
        double mean = samples.Average();
        double std = Math.Sqrt(samples.Sum(v => (v - mean) * (v - mean)) / samples.Length);
        Assert.InRange(mean, 1.85, 2.15);
        Assert.InRange(std, 0.35, 0.65);
    }

    [Fact]
    public void Training_with_the_same_seed_gives_identical_weights_and_samples()
    {
        var ml = new MLContext(1);
        var data = ml.Data.TakeRows(ml.Data.LoadMnist(MnistSplit.Train), 300);
        float[] Run() => ml.Transforms.EncodeToLatent(new VaeEncoderOptions { Epochs = 1, Width = 8, Seed = 7 }).Fit(data)
            .Transform(data).GetColumn<float[]>("Latent").First();
        Assert.Equal(Run(), Run());
    }

    [Fact]
    public void Request_seeds_that_share_their_low_32_bits_give_different_images_and_seeds_below_keep_theirs()
    {
        var g = models.Generator;
        var images = g.Generate([3, 3, 3, 3], [5, 4_294_967_301, 0, long.MinValue]);
        int size = g.ImageSize;
        Assert.NotEqual(images[..size], images[size..(2 * size)]);
        Assert.NotEqual(images[(2 * size)..(3 * size)], images[(3 * size)..]);
        // And the same requests give the same images.
        Assert.Equal(images, g.Generate([3, 3, 3, 3], [5, 4_294_967_301, 0, long.MinValue]));
    }

    [Fact]
    public void A_uint64_label_above_int64s_range_is_refused_naming_the_column_not_read_as_unconditional()
    {
        var requests = models.Context.Data.LoadFromEnumerable(new[] { new WideRequest { Label = ulong.MaxValue, Seed = 1 } });
        var e = Assert.ThrowsAny<Exception>(() => models.Generator.Transform(requests).GetColumn<float[]>("GeneratedImage").ToArray());
        while (e.InnerException is not null && e is not ArgumentOutOfRangeException) e = e.InnerException;
        Assert.Contains("Column 'Label'", e.Message);
        Assert.Contains("18446744073709551615", e.Message);
    }

    private sealed class WideRequest
    {
        public ulong Label { get; set; }
        public long Seed { get; set; }
    }
}

public sealed class LatentRow
{
    [VectorType(4)]
    public float[] Latent { get; set; } = [];
}
