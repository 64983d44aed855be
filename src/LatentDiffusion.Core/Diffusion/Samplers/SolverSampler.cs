
namespace LatentDiffusion.Diffusion.Samplers;

/// <summary>
/// What the ODE solvers share (DPM-Solver++, UniPC, Heun): where they place their steps. They start from the noisiest
/// timestep whose log-SNR is at least <see cref="LogSnrFloor"/> and space the steps by <see cref="Spacing"/>.
/// </summary>
public abstract record SolverSampler : DiffusionSampler
{
    /// <summary>Where the steps go. Default <see cref="TimestepSpacing.Time"/>.</summary>
    public TimestepSpacing Spacing { get; init; } = TimestepSpacing.Time;

    /// <summary>
    /// The solver starts from the noisiest timestep whose log-SNR lambda is at least this (see
    /// <see cref="SamplerTimesteps.Start"/>); it only matters for the cosine schedule, whose last timesteps fall to
    /// lambda = -10. Default -5.1 (diffusers' choice for cosine schedules).
    /// </summary>
    public double LogSnrFloor { get; init; } = -5.1;

    /// <inheritdoc/>
    protected override int[] PlaceSteps(NoiseSchedule schedule) =>
        SamplerTimesteps.Spaced(schedule, SamplerTimesteps.Start(schedule, LogSnrFloor), Steps, Spacing);

    /// <inheritdoc/>
    public override void Validate(int timesteps)
    {
        base.Validate(timesteps);
        OptionChecks.Defined(Spacing, nameof(Spacing), GetType().Name);
        OptionChecks.Finite(LogSnrFloor, nameof(LogSnrFloor), GetType().Name, "a log signal-to-noise ratio, e.g. -5.1");
    }

    /// <summary>Also checks that the timesteps the log-SNR floor leaves hold the steps asked for.</summary>
    public override void Validate(NoiseSchedule schedule)
    {
        base.Validate(schedule);
        if (Timesteps is not null) return;
        int start = SamplerTimesteps.Start(schedule, LogSnrFloor);
        if (Steps > start + 1)
            throw new ArgumentOutOfRangeException(nameof(LogSnrFloor), LogSnrFloor, FormattableString.Invariant(
                $"{GetType().Name}.LogSnrFloor must leave at least {Steps} timesteps of the {schedule.Kind} schedule of {schedule.Timesteps} for its ")
                + FormattableString.Invariant($"{Steps} steps, got {LogSnrFloor}, which leaves {start + 1} (the noisiest at timestep {start}, log-SNR ")
                + FormattableString.Invariant($"{schedule.LogSnr(start):F2}): lower the floor (default -5.1) or take fewer steps."));
    }
}
