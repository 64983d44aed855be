namespace LatentDiffusion.Diffusion;

/// <summary>The sampler registry: a new sampler is a new file, a <see cref="SamplerKind"/> value and one line here.</summary>
public static class Samplers
{
    /// <summary>The sampler <paramref name="options"/> ask for, over <paramref name="schedule"/>.</summary>
    public static IDiffusionSampler Create(SamplingOptions options, NoiseSchedule schedule) => options.Sampler switch
    {
        SamplerKind.Ddim => new DdimSampler(schedule, options.Steps, options.Eta),
        SamplerKind.Ddpm => new DdpmSampler(schedule, options.Steps, options.Variance),
        SamplerKind.DpmSolverPlusPlus2M => new DpmSolverPlusPlusSampler(schedule, SolverGrid(options, schedule)),
        SamplerKind.UniPc => new UniPcSampler(schedule, SolverGrid(options, schedule)),
        SamplerKind.Heun => new HeunSampler(schedule, SolverGrid(options, schedule)),
        _ => throw new ArgumentOutOfRangeException(nameof(options.Sampler), options.Sampler, $"Unknown sampler; expected one of {Names}."),
    };

    /// <summary>Every sampler's name, for messages and command-line choices.</summary>
    public static string Names => string.Join(", ", Enum.GetNames<SamplerKind>());

    /// <summary>Network evaluations per step for a step count: what the loop will call, before any model exists.</summary>
    public static int Evaluations(SamplerKind kind, int steps) => kind == SamplerKind.Heun ? 2 * steps - 1 : steps;

    private static int[] SolverGrid(SamplingOptions options, NoiseSchedule schedule) =>
        SamplerTimesteps.Spaced(schedule, SamplerTimesteps.Start(schedule, options.LogSnrFloor), options.Steps, options.Spacing);
}
