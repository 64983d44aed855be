using System.Diagnostics;
using LatentDiffusion.Diffusion;
using LatentDiffusion.Diffusion.Samplers;
using LatentDiffusion.MLNet.Estimators;
using Microsoft.Extensions.Logging;
using Microsoft.ML;
using Microsoft.ML.Runtime;

namespace LatentDiffusion.MLNet.Denoising;

/// <summary>
/// A few-step sampler for a trained diffusion model, learned against the model itself (issue 43): fitted on a set of
/// generation requests (its tuning requests: label and seed), it samples them with the teacher's own many-step
/// settings, then, for each solver of <see cref="StepGridOptions.Samplers"/>, searches the grid of timesteps within
/// <see cref="StepGridOptions.MaxPasses"/> network passes whose samples for the same requests come closest to the
/// teacher's (<see cref="StepGridSearch"/>). The fitted transformer is the teacher with that sampler: same network,
/// same requests, same file format, and it exports to ONNX Runtime like any other. Nothing is trained; a search takes
/// seconds to minutes.
/// </summary>
public sealed class StepGridLearner : IEstimator<LatentDiffusionTransformer>
{
    private readonly IHostEnvironment? context;
    private readonly LatentDiffusionTransformer teacher;
    private readonly StepGridOptions options;

    /// <summary>Learns a few-step sampler for <paramref name="teacher"/>; prefer <c>mlContext.Transforms.LearnStepGrid(teacher)</c>.</summary>
    public StepGridLearner(IHostEnvironment? context, LatentDiffusionTransformer teacher, StepGridOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(teacher);
        this.options = options ?? new StepGridOptions();
        this.options.Validate();
        foreach (var sampler in this.options.Samplers) sampler.Validate(teacher.Model.Schedule);
        if (this.options.Reference is { } reference && (!reference.DataShape.SequenceEqual(teacher.DataShape) || reference.Classes != teacher.Classes))
            throw new ArgumentOutOfRangeException(nameof(StepGridOptions.Reference), $"{nameof(StepGridOptions)}.Reference must sample what the model "
                + $"samples: [{string.Join(", ", teacher.DataShape)}] with {teacher.Classes} classes, but it samples "
                + $"[{string.Join(", ", reference.DataShape)}] "
                + $"with {reference.Classes}.");
        (this.context, this.teacher) = (context, teacher);
    }

    /// <summary>Every grid the last <see cref="Fit"/> tried, with its passes and loss, per solver.</summary>
    public IReadOnlyList<StepGridTrial> Trials { get; private set; } = [];

    /// <inheritdoc/>
    public LatentDiffusionTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        using var log = new ComponentLogger(context, options.Logger, nameof(StepGridLearner));
        var (labels, seeds) = RequestMapper.ReadAll(input, options.LabelColumnName ?? teacher.LabelColumnName,
            options.SeedColumnName ?? teacher.SeedColumnName, options.Seed, teacher.Classes);
        if (labels.Length < 2)
            throw new ArgumentOutOfRangeException(nameof(input), labels.Length,
                $"{nameof(StepGridLearner)} needs at least 2 tuning requests, got {labels.Length}.");
        var clock = Stopwatch.StartNew();
        var reference = options.Reference ?? teacher;
        var target = reference.Sample(labels, seeds);
        log.LogInformation("Reference: {Count} samples with {Sampler} ({Passes} passes each) in {Seconds:F1} s", labels.Length,
            reference.Sampling.Sampler.Name, reference.DenoiserPassesPerSample + reference.AutoguidancePassesPerSample, clock.Elapsed.TotalSeconds);
        double Loss(SamplingOptions candidate)
        {
            options.CancellationToken.ThrowIfCancellationRequested();
            return MeanSquaredDistance(teacher.WithSampling(candidate).Sample(labels, seeds), target);
        }
        var trials = new List<StepGridTrial>();
        StepGridTrial? best = null;
        foreach (var template in options.Samplers)
        {
            var search = new StepGridSearch(teacher.Model.Schedule, teacher.Classes, options.MaxPasses);
            var sampling = teacher.Sampling;
            sampling.Sampler = template;
            var found = search.Search(sampling, Loss);
            trials.AddRange(search.Trials);
            if (found is null) continue;
            log.LogInformation("{Sampler}: grid [{Grid}], {Passes} passes, distance to the teacher {Loss:G4} ({Trials} grids tried)", found.Sampler.Name,
                string.Join(", ", found.Sampler.Timesteps!), found.Passes, found.Loss, search.Trials.Count);
            if (best is null || found.Loss < best.Loss) best = found;
        }
        Trials = trials;
        if (best is null)
            throw new ArgumentOutOfRangeException(nameof(options.MaxPasses), options.MaxPasses, $"{nameof(StepGridOptions)}.MaxPasses must leave room "
                + $"for one step of the teacher's guidance, got {options.MaxPasses}: no grid of the samplers tried fits it.");
        log.LogInformation("Kept {Sampler} on [{Grid}] ({Passes} passes) after {Seconds:F0} s", best.Sampler.Name, string.Join(", ", best.Sampler.Timesteps!),
            best.Passes, clock.Elapsed.TotalSeconds);
        var learned = teacher.Sampling;
        learned.Sampler = best.Sampler;
        return teacher.WithSampling(learned);
    }

    private static double MeanSquaredDistance(float[] a, float[] b)
    {
        double sum = 0;
        for (int i = 0; i < a.Length; i++)
        {
            double d = a[i] - b[i];
            sum += d * d;
        }
        return sum / a.Length;
    }

    /// <inheritdoc/>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        if ((options.LabelColumnName ?? teacher.LabelColumnName) is { } labels) ComponentSupport.OptionalIntegerShape(inputSchema, labels, "requested labels");
        ComponentSupport.OptionalIntegerShape(inputSchema, options.SeedColumnName ?? teacher.SeedColumnName, "request seeds");
        return ComponentSupport.Append(inputSchema, [LatentDiffusionTransformer.OutputColumn(teacher.OutputColumnName, teacher.DataShape)]);
    }
}
