using LatentDiffusion.Diffusion;
using LatentDiffusion.Diffusion.Samplers;
using LatentDiffusion.MLNet.Autoencoder;
using LatentDiffusion.MLNet.Denoising;
using LatentDiffusion.MLNet.Estimators;
using LatentDiffusion.Training;
using Microsoft.ML;
using Microsoft.ML.Data;
using static TorchSharp.torch;

namespace LatentDiffusion.Tests.Training;

/// <summary>
/// Training data streamed from the view (<see cref="TrainingOptions.StreamTrainingData"/>): every epoch sees every
/// training row once and no validation row, a stopped run resumes bit-identical, and a view that changes between
/// passes is refused.
/// </summary>
public class TrainingDataStreamingTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("ld-streaming-").FullName;
    private readonly MLContext ml = new(1);

    public void Dispose() => Directory.Delete(folder, recursive: true);

    /// <summary>Rows 0..n-1 whose one value is the row's number.</summary>
    private sealed class Numbers(int n) : IRowStream
    {
        private int next;

        public bool Next(Span<float> values, out int label)
        {
            label = 0;
            if (next == n) return false;
            values[0] = next++;
            return true;
        }

        public void Dispose()
        {
        }
    }

    private static List<float[]> Epoch(IBatchSource source, Tensor order, int batchSize, long firstBatch)
    {
        using var batches = source.Open(order, batchSize, firstBatch);
        var result = new List<float[]>();
        for (long b = firstBatch; b * batchSize < source.Rows; b++)
        {
            var (values, _) = batches.Next();
            using (values) result.Add(values.data<float>().ToArray());
        }
        return result;
    }

    [Fact]
    public void A_shuffle_buffer_gives_every_row_once_per_epoch_in_a_seeded_order_and_reopens_at_any_batch()
    {
        using var source = new StreamedBatches(_ => new Numbers(1000), 1000, [1], labelled: false, CPU, bufferRows: 100, transform: null);
        using var generator = new Generator(7, CPU);
        using var first = source.DrawEpoch(generator);
        using var second = source.DrawEpoch(generator);
        var epoch = Epoch(source, first, 64, 0);
        Assert.Equal(Enumerable.Range(0, 1000).Select(i => (float)i), epoch.SelectMany(b => b).Order());
        Assert.Equal(16, epoch.Count);
        Assert.NotEqual(epoch.SelectMany(b => b), Epoch(source, second, 64, 0).SelectMany(b => b));
        // Reopened at batch 5 (a resumed run), the epoch continues with the same batches.
        Assert.Equal(epoch.Skip(5), Epoch(source, first, 64, 5));
        // Rows travel at most the buffer's reach: the first batch comes from the first rows read.
        Assert.All(epoch[0], v => Assert.InRange(v, 0, 100 + 63));

        // A source that gives fewer rows on a later pass is refused.
        using var shrinking = new StreamedBatches(_ => new Numbers(900), 1000, [1], labelled: false, CPU, bufferRows: 100, transform: null);
        var e = Assert.Throws<InvalidDataException>(() => Epoch(shrinking, first, 64, 0));
        Assert.Contains("900 rows on a later pass, not 1000", e.Message);
    }

    public sealed class NumberRow
    {
        public int Label { get; set; }
        [VectorType(2, 4, 4)] public float[] Latent { get; set; } = [];
    }

    /// <summary>Rows whose values all equal the row's number (a list: the view can shuffle).</summary>
    private IDataView Rows(int n) => ml.Data.Cache(ml.Data.LoadFromEnumerable(Enumerable.Range(0, n)
        .Select(i => new NumberRow { Label = i % 3, Latent = Enumerable.Repeat((float)i, 32).ToArray() }).ToList()));

    [Fact]
    public void A_view_that_shuffles_itself_trains_on_every_training_row_once_per_epoch_and_never_on_a_validation_row()
    {
        var view = Rows(250);
        Assert.True(view.CanShuffle);
        var data = new DataViewTrainingData(view, "Latent", 32, "Label", 3, bufferRows: 16, shuffleSource: true, CancellationToken.None);
        Assert.Equal(250, data.Rows);
        Assert.Equal((0f, 249f), data.Range());
        var (train, validation) = TrainingRun.Split(data.Rows, 0.2);
        using var batches = data.Batches(train, [2, 4, 4], CPU);
        using var generator = new Generator(3, CPU);
        using var order = batches.DrawEpoch(generator);
        var rows = Epoch(batches, order, 32, 0).SelectMany(b => b.Chunk(32).Select(row => row[0])).ToList();
        Assert.Equal(Enumerable.Range(0, train).Select(i => (float)i), rows.Order());
        Assert.NotEqual(Enumerable.Range(0, train).Select(i => (float)i), rows);
        // The validation rows, read in input order.
        Assert.Equal(Enumerable.Range(train, validation).Select(i => (float)i),
            data.Chunks(train, validation, 16).SelectMany(c => c.Values.Chunk(32).Select(row => row[0])));
    }

    private LatentDiffusionOptions Options(string? checkpoints, string? cache, bool resume = false, IProgress<TrainingProgress>? progress = null,
        CancellationToken token = default) => new()
    {
        DataShape = [2, 4, 4], Classes = 3, Width = 8, Epochs = 2, BatchSize = 32, Timesteps = 50, AutoguidanceWidth = 8, AutoguidanceEpochs = 2,
        Sampling = new SamplingOptions { Sampler = new DdimSampler { Steps = 5 }, GuidanceScale = 2, AutoguidanceScale = 1.5 }, StreamTrainingData = true, ShuffleBufferRows = 50,
        StreamingCacheDirectory = cache, ShuffleSource = cache is not null, CheckpointDirectory = checkpoints, ResumeFromCheckpoint = resume, Progress = progress, CancellationToken = token,
    };

    private IDataView Latents()
    {
        var random = new Random(3);
        return ml.Data.LoadFromEnumerable(Enumerable.Range(0, 200).Select(i => new NumberRow
        {
            Label = i % 3, Latent = Enumerable.Range(0, 32).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray(),
        }).ToList());
    }

    private sealed class StopAt(string model, long step, CancellationTokenSource stop) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress p)
        {
            if (p.Model == model && p.Step == step) stop.Cancel();
        }
    }

    [Theory]
    [InlineData(false, "diffusion", 3)]
    [InlineData(true, "diffusion", 3)]
    [InlineData(true, "autoguidance", 9)]
    public void A_streamed_run_stopped_and_resumed_ends_bit_identical(bool cached, string model, long step)
    {
        string Cache(string name) => Path.Combine(folder, name);
        var expected = ml.Transforms.TrainLatentDiffusion(Options(null, cached ? Cache("a") : null)).Fit(Latents()).Sample([0, 1, 2, -1], [5, 6, 7, 8]);
        // The cache is ML.NET's binary format, which shuffles itself: with ShuffleSource, epochs use its shuffling and the buffer's.
        if (cached) Assert.True(ml.Data.LoadFromBinary(Path.Combine(Cache("a"), "diffusion-data.idv")).CanShuffle);

        string checkpoints = Path.Combine(folder, "checkpoints");
        using (var stop = new CancellationTokenSource())
            Assert.ThrowsAny<OperationCanceledException>(() => ml.Transforms.TrainLatentDiffusion(
                Options(checkpoints, cached ? Cache("b") : null, progress: new StopAt(model, step, stop), token: stop.Token)).Fit(Latents()));
        var resumed = ml.Transforms.TrainLatentDiffusion(Options(checkpoints, cached ? Cache("b") : null, resume: true)).Fit(Latents());
        Assert.Equal(expected, resumed.Sample([0, 1, 2, -1], [5, 6, 7, 8]));

        // The same run in memory is another run: its checkpoint is refused, naming the difference.
        var inMemory = Options(checkpoints, null, resume: true);
        inMemory.StreamTrainingData = false;
        var e = Assert.Throws<InvalidDataException>(() => ml.Transforms.TrainLatentDiffusion(inMemory).Fit(Latents()));
        Assert.Contains(cached ? "shuffle streamed through a buffer of 50 rows after the view's shuffling (now )" : "shuffle streamed through a buffer of 50 rows (now )",
            e.Message);
    }

    [Fact]
    public void A_streamed_vae_trains_and_streaming_options_are_checked_naming_the_option()
    {
        var images = ml.Data.LoadFromEnumerable(Enumerable.Range(0, 96).Select(i => new ImageRow
        {
            Label = i % 2, Image = Enumerable.Range(0, 64).Select(j => (float)((i * 7 + j) % 10) / 10).ToArray(),
        }).ToList());
        var options = new VaeEncoderOptions
        {
            ImageShape = [1, 8, 8], Epochs = 1, Width = 8, BatchSize = 32, PerceptualWeight = 1, PerceptualLabelColumnName = "Label", PerceptualClasses = 2,
            StreamTrainingData = true, ShuffleBufferRows = 40, StreamingCacheDirectory = Path.Combine(folder, "vae"),
        };
        var latents = ml.Transforms.EncodeToLatent(options).Fit(images).Transform(images).GetColumn<float[]>("Latent").ToArray();
        Assert.Equal(96, latents.Length);
        Assert.True(File.Exists(Path.Combine(folder, "vae", "vae-data.idv")));

        var cacheAlone = new LatentDiffusionOptions { StreamingCacheDirectory = folder };
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.TrainLatentDiffusion(cacheAlone));
        Assert.Contains("LatentDiffusionOptions.StreamingCacheDirectory caches streamed data: it needs LatentDiffusionOptions.StreamTrainingData = true", e.Message);
        var shuffleAlone = new LatentDiffusionOptions { ShuffleSource = true };
        Assert.Contains("LatentDiffusionOptions.ShuffleSource shuffles streamed data: it needs LatentDiffusionOptions.StreamTrainingData = true",
            Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.TrainLatentDiffusion(shuffleAlone)).Message);
        var noBuffer = new LatentDiffusionOptions { StreamTrainingData = true, ShuffleBufferRows = 0 };
        Assert.Contains("ShuffleBufferRows", Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.TrainLatentDiffusion(noBuffer)).Message);
    }

    public sealed class ImageRow
    {
        public int Label { get; set; }
        [VectorType(64)] public float[] Image { get; set; } = [];
    }
}
