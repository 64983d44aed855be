using LatentDiffusion.Diffusion;
using LatentDiffusion.Diffusion.Samplers;
using LatentDiffusion.MLNet;
using LatentDiffusion.MLNet.Denoising;
using LatentDiffusion.Onnx;
using LatentDiffusion.Training;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace LatentDiffusion.Tests.MLNet;

/// <summary>
/// Few-step generation (issue 43) as ML.NET components, on a small UNet over 2x4x4 rows of 3 classes: guidance
/// distilled into the network (one pass per step where the teacher spends two), steps distilled onto a DDIM grid (one
/// pass nearer the teacher's many-step samples than its own DDIM step from there), a step grid learned within a pass
/// budget against the teacher's many-step samples, each saved, loaded and exported to ONNX Runtime with the same
/// results, both distillations stopped and resumed bit for bit, and a teacher of another shape or a bad grid refused
/// with one sentence.
/// </summary>
public class FewStepTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("ld-fewstep-").FullName;
    private readonly MLContext ml = new(1);

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private sealed class Row
    {
        public int Label { get; set; }
        [VectorType(32)] public float[] Latent { get; set; } = [];
    }

    private sealed class WideRow
    {
        public int Label { get; set; }
        [VectorType(48)] public float[] Latent { get; set; } = [];
    }

    /// <summary>Three classes, each a different mean pattern plus noise, so that guidance has something to sharpen.</summary>
    private IDataView Latents()
    {
        var random = new Random(3);
        return ml.Data.LoadFromEnumerable(Enumerable.Range(0, 240).Select(i => new Row
        {
            Label = i % 3, Latent = [.. Enumerable.Range(0, 32).Select(k => (float)((k % 3 == i % 3 ? 1.0 : -0.5) + 0.3 * (random.NextDouble() * 2 - 1)))],
        }).ToList());
    }

    private LatentDiffusionTransformer Teacher(DiffusionObjective objective = DiffusionObjective.Epsilon) =>
        ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions
        {
            InputColumnName = "Latent", DataShape = [2, 4, 4], Classes = 3, Width = 8, Epochs = 3, BatchSize = 32, Timesteps = 100, Objective = objective,
            Sampling = new SamplingOptions { Sampler = new UniPcSampler { Steps = 10 }, GuidanceScale = 3 },
        }).Fit(Latents());

    private GuidanceDistillationOptions Distillation(string? checkpoints = null, bool resume = false, IProgress<TrainingProgress>? progress = null,
        CancellationToken token = default) => new()
    {
        InputColumnName = "Latent", LabelColumnName = "Label", Epochs = 3, CheckpointDirectory = checkpoints, ResumeFromCheckpoint = resume,
        Progress = progress, CancellationToken = token,
    };

    private StepDistillationOptions StepDistillation(string? checkpoints = null, bool resume = false, IProgress<TrainingProgress>? progress = null,
        CancellationToken token = default, int epochs = 30) => new()
    {
        InputColumnName = "Latent", LabelColumnName = "Label", Steps = 1, Epochs = epochs, LearningRate = 1e-3, CheckpointDirectory = checkpoints,
        ResumeFromCheckpoint = resume,
        Progress = progress, CancellationToken = token,
    };

    private static readonly int[] Labels = [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2];
    private static readonly long[] Seeds = [.. Enumerable.Range(0, 12).Select(i => 70L + i)];

    private static double Distance(float[] a, float[] b) => a.Zip(b, (x, y) => (double)(x - y) * (x - y)).Average();

    [Fact]
    public void Distilled_guidance_spends_one_pass_per_step_comes_closer_to_the_guided_teacher_and_saves_loads_and_exports()
    {
        var teacher = Teacher();
        var student = ml.Transforms.DistillGuidance(teacher, Distillation()).Fit(Latents());
        Assert.Equal(10, student.DenoiserPassesPerSample);
        Assert.Equal(20, teacher.DenoiserPassesPerSample);
        Assert.Equal(1, student.Sampling.GuidanceScale);

        // The student, unguided, samples nearer the guided teacher than the teacher itself does without guidance.
        var guided = teacher.Sample(Labels, Seeds);
        var unguidedSampling = teacher.Sampling;
        unguidedSampling.GuidanceScale = 1;
        double before = Distance(teacher.WithSampling(unguidedSampling).Sample(Labels, Seeds), guided), after = Distance(student.Sample(Labels, Seeds), guided);
        Assert.True(after < before, $"distance to the guided teacher: student {after:G4}, unguided teacher {before:G4}");

        AssertTravels(student, "student");
    }

    [Fact]
    public void A_distilled_step_lands_nearer_the_teacher_than_its_own_ddim_step_and_saves_loads_and_exports()
    {
        // Velocity, as step distillation needs: an epsilon prediction cannot give the clean sample a first step from noise lands on.
        var teacher = Teacher(DiffusionObjective.Velocity);
        var student = ml.Transforms.DistillSteps(teacher, StepDistillation()).Fit(Latents());
        Assert.Equal(1, student.DenoiserPassesPerSample);
        Assert.Equal([99], Assert.IsType<DdimSampler>(student.Sampling.Sampler).Timesteps!);
        Assert.Equal(1, student.Sampling.GuidanceScale);

        // The teacher's guided many-step samples are the reference; the student's one pass comes nearer to them than the
        // teacher's own guided DDIM step from the same timestep (two passes), which can only give the mean of what the
        // noise could become (measured: 0.30 against 0.37).
        var reference = teacher.Sample(Labels, Seeds);
        var sameGrid = teacher.Sampling;
        sameGrid.Sampler = new DdimSampler { Timesteps = [99] };
        double taught = Distance(student.Sample(Labels, Seeds), reference), plain = Distance(teacher.WithSampling(sameGrid).Sample(Labels, Seeds), reference);
        Assert.True(taught < plain, $"distance to the teacher's many-step samples: student {taught:G4}, teacher's DDIM on the grid {plain:G4}");
        AssertTravels(student, "steps");
    }

    /// <summary>Saved and loaded, the model samples bit for bit the same; exported, ONNX Runtime samples within 1e-4 on the same sampler.</summary>
    private void AssertTravels(LatentDiffusionTransformer model, string name)
    {
        string path = Path.Combine(folder, name + ".zip");
        ml.Model.Save(model, null, path);
        var fresh = new MLContext(2);
        fresh.ComponentCatalog.RegisterLatentDiffusion();
        var loaded = (LatentDiffusionTransformer)fresh.Model.Load(path, out _);
        Assert.Equal(model.Sampling.Sampler.Timesteps, loaded.Sampling.Sampler.Timesteps);
        var samples = model.Sample(Labels, Seeds);
        Assert.Equal(samples, loaded.Sample(Labels, Seeds));
        model.ExportOnnx(Path.Combine(folder, "onnx-" + name));
        using var onnx = OnnxGenerator.Load(Path.Combine(folder, "onnx-" + name));
        Assert.Equal(model.Sampling.Sampler.Timesteps, onnx.Sampling.Sampler.Timesteps);
        double largest = samples.Zip(onnx.Sample(Labels, Seeds), (x, y) => Math.Abs(x - y)).Max();
        Assert.True(largest < 1e-4, $"ONNX Runtime's samples differ from TorchSharp's by up to {largest:G3}");
    }

    [Fact]
    public void A_learned_grid_keeps_its_pass_budget_beats_the_default_grid_and_travels_with_the_model()
    {
        var teacher = Teacher();
        var requests = ml.Data.LoadFromEnumerable(Enumerable.Range(0, 48).Select(i => new GenerationRequest { Label = i % 3, Seed = 900 + i }));
        var learner = ml.Transforms.LearnStepGrid(teacher, new StepGridOptions { MaxPasses = 6, Samplers = [new IpndmSampler()] });
        var fast = learner.Fit(requests);
        Assert.True(fast.DenoiserPassesPerSample + fast.AutoguidancePassesPerSample <= 6);
        Assert.NotNull(fast.Sampling.Sampler.Timesteps);
        Assert.IsType<IpndmSampler>(fast.Sampling.Sampler);
        // On requests the search never saw, the learned grid comes closer to the teacher's many-step samples than the
        // sampler's own placement of as many steps.
        int steps = fast.Sampling.Sampler.Timesteps!.Length;
        var placed = teacher.Sampling;
        placed.Sampler = new IpndmSampler { Steps = steps };
        var reference = teacher.Sample(Labels, Seeds);
        double learned = Distance(fast.Sample(Labels, Seeds), reference), uniform = Distance(teacher.WithSampling(placed).Sample(Labels, Seeds), reference);
        Assert.True(learned < uniform, $"{steps} steps: learned grid {learned:G4} from the teacher, the sampler's own grid {uniform:G4}");

        AssertTravels(fast, "fast");
    }

    private sealed class StopAt(string model, long step, CancellationTokenSource stop) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress p)
        {
            if (p.Model == model && p.Step == step) stop.Cancel();
        }
    }

    [Theory]
    [InlineData("distillation")]
    [InlineData("step-distillation")]
    public void A_distillation_stopped_and_resumed_ends_bit_identical(string stage)
    {
        var teacher = Teacher();
        IEstimator<LatentDiffusionTransformer> Distiller(string? checkpoints = null, bool resume = false, IProgress<TrainingProgress>? progress = null,
            CancellationToken token = default) => stage == "distillation"
            ? ml.Transforms.DistillGuidance(teacher, Distillation(checkpoints, resume, progress, token))
            : ml.Transforms.DistillSteps(teacher, StepDistillation(checkpoints, resume, progress, token, epochs: 3));
        var expected = Distiller().Fit(Latents()).Sample(Labels, Seeds);
        string checkpoints = Path.Combine(folder, "checkpoints");
        using (var stop = new CancellationTokenSource())
            Assert.ThrowsAny<OperationCanceledException>(() => Distiller(checkpoints, progress: new StopAt(stage, 3, stop), token: stop.Token).Fit(Latents()));
        Assert.True(File.Exists(Path.Combine(checkpoints, stage + ".checkpoint")));
        var resumed = Distiller(checkpoints, resume: true).Fit(Latents());
        Assert.Equal(expected, resumed.Sample(Labels, Seeds));
    }

    [Fact]
    public void A_teacher_of_another_shape_is_refused_with_one_sentence()
    {
        var teacher = Teacher();
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.DistillGuidance(teacher, Distillation())
            .Fit(ml.Data.LoadFromEnumerable([new WideRow { Latent = new float[48] }])));
        Assert.StartsWith("Column 'Latent' holds 48 values per row, but the teacher learned samples of [2, 4, 4] (32 values): distil a teacher on the data it "
            + "learned.", e.Message);
        var grid = StepDistillation();
        grid.Timesteps = [49, 99];
        var refused = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.DistillSteps(teacher, grid).Fit(Latents()));
        Assert.StartsWith("StepDistillationOptions.Timesteps must descend: entry 1 is 99, after 49 at entry 0.", refused.Message);
        grid.Timesteps = [100, 50];
        refused = Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.DistillSteps(teacher, grid).Fit(Latents()));
        Assert.StartsWith("StepDistillationOptions.Timesteps[0] must be a timestep in [0, 99] of the schedule, got 100.", refused.Message);
    }
}
