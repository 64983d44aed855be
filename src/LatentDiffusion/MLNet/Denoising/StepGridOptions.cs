using LatentDiffusion.Diffusion.Samplers;
using Microsoft.Extensions.Logging;

namespace LatentDiffusion.MLNet.Denoising;

/// <summary>Options of <see cref="StepGridLearner"/>: the pass budget, the solvers tried, and where the requests are read.</summary>
public sealed class StepGridOptions
{
    /// <summary>Network passes per sample the learned sampler may spend, guidance and autoguidance passes included. Default 4.</summary>
    public int MaxPasses { get; set; } = 4;

    /// <summary>
    /// The solvers whose grids are learned, each with its own settings as a template (its steps and grid are what the
    /// search sets); the lowest-loss one is kept. Default: UniPC, DPM-Solver++(2M), iPNDM and DDIM.
    /// </summary>
    public IReadOnlyList<DiffusionSampler> Samplers { get; set; } =
        [new UniPcSampler(), new DpmSolverPlusPlusSampler(), new IpndmSampler(), new DdimSampler()];

    /// <summary>
    /// The many-step samples to come close to: those of this model with its own sampling settings (for a model whose
    /// guidance was distilled, its teacher). Null: the model's own, with its saved settings. It must have the model's data
    /// shape and classes.
    /// </summary>
    public LatentDiffusionTransformer? Reference { get; set; }

    /// <summary>The requests' label column; null reads the teacher's.</summary>
    public string? LabelColumnName { get; set; }

    /// <summary>The requests' seed column; null reads the teacher's.</summary>
    public string? SeedColumnName { get; set; }

    /// <summary>The seed of rows without a seed column. Default 1.</summary>
    public int Seed { get; set; } = 1;

    /// <summary>Receives each solver's best grid and its loss.</summary>
    public ILogger? Logger { get; set; }

    /// <summary>Stops the search between two grids' trials (Fit then throws <see cref="OperationCanceledException"/>).</summary>
    public CancellationToken CancellationToken { get; set; }

    /// <summary>Checks every option on its own.</summary>
    internal void Validate()
    {
        const string Owner = nameof(StepGridOptions);
        OptionChecks.InRange(MaxPasses, 1, 1000, nameof(MaxPasses), Owner);
        OptionChecks.NotNull(Samplers, nameof(Samplers), Owner);
        if (Samplers.Count == 0 || Samplers.Any(s => s is null))
            throw new ArgumentOutOfRangeException(nameof(Samplers), Samplers.Count, $"{Owner}.Samplers must name at least one sampler, and no null.");
        if (LabelColumnName is not null) OptionChecks.ColumnName(LabelColumnName, nameof(LabelColumnName), Owner);
        if (SeedColumnName is not null) OptionChecks.ColumnName(SeedColumnName, nameof(SeedColumnName), Owner);
    }
}
