using LatentDiffusion.Data;
using LatentDiffusion.Diffusion;
using LatentDiffusion.Diffusion.Samplers;
using LatentDiffusion.MLNet.Autoencoder;
using LatentDiffusion.MLNet.Denoising;
using LatentDiffusion.MLNet.Evaluation;
using LatentDiffusion.Training;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace LatentDiffusion.Tests.Training;

/// <summary>
/// Training of every component writes checkpoints, and a run stopped at any step and resumed ends with exactly the
/// weights of a run that never stopped.
/// </summary>
[Trait("Data", "MNIST")]
public class CheckpointTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("ld-checkpoint-").FullName;
    private readonly MLContext ml = new(1);

    public void Dispose() => Directory.Delete(folder, recursive: true);

    /// <summary>Reports on the training thread at once, so a test can stop the run at an exact step.</summary>
    private sealed class StopAt(string model, long step, CancellationTokenSource stop) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress p)
        {
            if (p.Model == model && p.Step == step) stop.Cancel();
        }
    }

    private IDataView Latents()
    {
        var random = new Random(3);
        return ml.Data.LoadFromEnumerable(Enumerable.Range(0, 200).Select(i => new LatentRow
        {
            Label = i % 3, Latent = Enumerable.Range(0, 2 * 4 * 4).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray(),
        }));
    }

    private LatentDiffusionOptions DiffusionOptions(string? checkpoints, bool resume = false, IProgress<TrainingProgress>? progress = null, CancellationToken token = default) => new()
    {
        DataShape = [2, 4, 4], Classes = 3, Width = 8, Epochs = 2, BatchSize = 32, Timesteps = 50, Precision = TrainingPrecision.BFloat16,
        AutoguidanceWidth = 8, AutoguidanceEpochs = 2, Sampling = new SamplingOptions { Sampler = new DdimSampler { Steps = 5 }, GuidanceScale = 2, AutoguidanceScale = 1.5 },
        CheckpointDirectory = checkpoints, ResumeFromCheckpoint = resume, Progress = progress, CancellationToken = token,
    };

    private static float[] Samples(LatentDiffusionTransformer model) => model.Sample([0, 1, 2, -1], [5, 6, 7, 8]);

    [Theory]
    [InlineData("diffusion", 3)]      // mid-epoch 1 of the main denoiser (7 steps an epoch)
    [InlineData("diffusion", 7)]      // the last step of an epoch
    [InlineData("autoguidance", 9)]   // mid-epoch 2 of the autoguidance denoiser, after the main one finished
    public void A_diffusion_run_stopped_and_resumed_ends_bit_identical(string model, long step)
    {
        var expected = Samples(ml.Transforms.TrainLatentDiffusion(DiffusionOptions(null)).Fit(Latents()));

        string checkpoints = Path.Combine(folder, $"{model}-{step}");
        using var stop = new CancellationTokenSource();
        Assert.ThrowsAny<OperationCanceledException>(() =>
            ml.Transforms.TrainLatentDiffusion(DiffusionOptions(checkpoints, progress: new StopAt(model, step, stop), token: stop.Token)).Fit(Latents()));
        Assert.True(File.Exists(Path.Combine(checkpoints, $"{model}.checkpoint")));

        var resumed = ml.Transforms.TrainLatentDiffusion(DiffusionOptions(checkpoints, resume: true)).Fit(Latents());
        Assert.Equal(expected, Samples(resumed));
        Assert.Equal(2, resumed.History.Epochs.Count);
        Assert.Equal(2, resumed.AutoguidanceHistory.Epochs.Count);
    }

    [Fact]
    public void A_checkpoint_written_on_schedule_mid_epoch_resumes_bit_identical()
    {
        // Checkpoints after every step; keep the one written after step 4, then resume from it.
        string checkpoints = Path.Combine(folder, "periodic");
        string file = Path.Combine(checkpoints, "diffusion.checkpoint"), kept = Path.Combine(folder, "kept.checkpoint");
        var copy = new CopyAt("diffusion", 5, file, kept);
        var options = DiffusionOptions(checkpoints, progress: copy);
        options.CheckpointInterval = TimeSpan.FromTicks(1);
        var expected = Samples(ml.Transforms.TrainLatentDiffusion(options).Fit(Latents()));
        Assert.True(File.Exists(kept));
        var (position, _) = TrainingCheckpoint.Read(kept);
        Assert.Equal(4, position.Step);
        Assert.Equal(4, position.Batch);

        Directory.Delete(checkpoints, recursive: true);
        Directory.CreateDirectory(checkpoints);
        File.Copy(kept, file);
        var resumed = ml.Transforms.TrainLatentDiffusion(DiffusionOptions(checkpoints, resume: true)).Fit(Latents());
        Assert.Equal(expected, Samples(resumed));
    }

    /// <summary>At a step's progress report the checkpoint on disk is from the step before: copies it aside.</summary>
    private sealed class CopyAt(string model, long step, string file, string copy) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress p)
        {
            if (p.Model == model && p.Step == step) File.Copy(file, copy);
        }
    }

    [Fact]
    public void A_vae_and_a_classifier_stopped_and_resumed_end_bit_identical()
    {
        var data = ml.Data.TakeRows(ml.Data.LoadMnist(MnistSplit.Train), 320);
        var test = ml.Data.TakeRows(ml.Data.LoadMnist(MnistSplit.Test), 20);

        VaeEncoderOptions Vae(string? dir, bool resume = false, IProgress<TrainingProgress>? p = null, CancellationToken t = default) =>
            new() { Epochs = 2, Width = 8, BatchSize = 32, CheckpointDirectory = dir, ResumeFromCheckpoint = resume, Progress = p, CancellationToken = t };
        var vaeExpected = ml.Transforms.EncodeToLatent(Vae(null)).Fit(data).Transform(test).GetColumn<float[]>("Latent").ToArray();
        string vaeDir = Path.Combine(folder, "vae");
        using (var stop = new CancellationTokenSource())
            Assert.ThrowsAny<OperationCanceledException>(() => ml.Transforms.EncodeToLatent(Vae(vaeDir, p: new StopAt("vae", 6, stop), t: stop.Token)).Fit(data));
        Assert.Equal(vaeExpected, ml.Transforms.EncodeToLatent(Vae(vaeDir, resume: true)).Fit(data).Transform(test).GetColumn<float[]>("Latent").ToArray());

        // The classifier trains with dropout, which draws from the global generator: its state is in the checkpoint too.
        FidEvaluatorOptions Classifier(string? dir, bool resume = false, IProgress<TrainingProgress>? p = null, CancellationToken t = default) =>
            new() { Epochs = 2, BatchSize = 32, CheckpointDirectory = dir, ResumeFromCheckpoint = resume, Progress = p, CancellationToken = t };
        var classifierExpected = ml.Transforms.FidEvaluator(Classifier(null)).Fit(data).Transform(test).GetColumn<float[]>("Features").ToArray();
        string classifierDir = Path.Combine(folder, "classifier");
        using (var stop = new CancellationTokenSource())
            Assert.ThrowsAny<OperationCanceledException>(() => ml.Transforms.FidEvaluator(Classifier(classifierDir, p: new StopAt("classifier", 13, stop), t: stop.Token)).Fit(data));
        Assert.Equal(classifierExpected, ml.Transforms.FidEvaluator(Classifier(classifierDir, resume: true)).Fit(data).Transform(test).GetColumn<float[]>("Features").ToArray());
    }

    [Fact]
    public void A_finished_checkpoint_skips_training_and_one_from_another_run_is_refused_naming_the_difference()
    {
        string dir = Path.Combine(folder, "finished");
        var first = ml.Transforms.TrainLatentDiffusion(DiffusionOptions(dir)).Fit(Latents());
        var again = ml.Transforms.TrainLatentDiffusion(DiffusionOptions(dir, resume: true)).Fit(Latents());
        Assert.Equal(Samples(first), Samples(again));
        Assert.Equal(first.History.Epochs, again.History.Epochs);   // restored, not retrained

        var other = DiffusionOptions(dir, resume: true);
        other.BatchSize = 16;
        var e = Assert.Throws<InvalidDataException>(() => ml.Transforms.TrainLatentDiffusion(other).Fit(Latents()));
        Assert.Contains("diffusion.checkpoint", e.Message);
        Assert.Contains("batch size 32 (now 16)", e.Message);

        // Issue 32: another learning rate was resumed as if it matched.
        var faster = DiffusionOptions(dir, resume: true);
        faster.LearningRate = 1e-2;
        var rate = Assert.Throws<InvalidDataException>(() => ml.Transforms.TrainLatentDiffusion(faster).Fit(Latents()));
        Assert.Contains("learning rate 0.002 (now 0.01)", rate.Message);
    }

    [Fact]
    public void A_time_limit_that_ends_training_before_its_first_step_is_an_error_naming_the_option()
    {
        // Issue 32: 1 ms returned a VAE trained for no step at all.
        var options = new VaeEncoderOptions { Epochs = 2, Width = 8, BatchSize = 32, MaxTrainingTime = TimeSpan.FromTicks(1) };
        var e = Assert.Throws<TimeoutException>(() => ml.Transforms.EncodeToLatent(options).Fit(ml.Data.TakeRows(ml.Data.LoadMnist(MnistSplit.Train), 200)));
        Assert.Contains("MaxTrainingTime", e.Message);
        Assert.Contains("'vae'", e.Message);
    }

    [Fact]
    public void A_loss_that_stops_being_finite_stops_training_naming_where_and_keeps_the_last_good_checkpoint()
    {
        string dir = Path.Combine(folder, "diverged");
        var options = DiffusionOptions(dir);
        options.LearningRate = 1e12;
        options.CheckpointInterval = TimeSpan.FromTicks(1);
        options.Precision = TrainingPrecision.Float32;
        var e = Assert.Throws<TrainingDivergedException>(() => ml.Transforms.TrainLatentDiffusion(options).Fit(Latents()));
        Assert.Equal("diffusion", e.Model);
        Assert.Contains($"epoch {e.Epoch}, step {e.Step}", e.Message);
        Assert.NotNull(e.CheckpointPath);
        var (position, _) = TrainingCheckpoint.Read(e.CheckpointPath!);
        Assert.True(position.Step <= e.Step, $"checkpoint at step {position.Step}, divergence at {e.Step}");
    }

    public sealed class LatentRow
    {
        public int Label { get; set; }
        [VectorType(32)] public float[] Latent { get; set; } = [];
    }
}
