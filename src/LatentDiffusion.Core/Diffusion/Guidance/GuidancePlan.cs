using LatentDiffusion.Diffusion.Samplers;

namespace LatentDiffusion.Diffusion.Guidance;

/// <summary>The guidance methods of one sampling run and the base prediction they start from.</summary>
/// <param name="options">The sampling settings.</param>
/// <param name="classes">The model's classes (0: unconditional).</param>
public sealed class GuidancePlan(SamplingOptions options, int classes)
{
    /// <summary>The base prediction: the denoiser with the requested labels, or with the null class at guidance 0 and on unconditional models.</summary>
    public PredictionKey Basis { get; } = new(DenoiserRole.Main, ClassifierFreeGuidance.BasisIsConditional(options, classes));

    /// <summary>The methods, in the order they combine.</summary>
    public IReadOnlyList<IGuidance> Methods { get; } = options.GuidanceMethods(classes);

    /// <summary>Every prediction timestep <paramref name="t"/> needs, the base one first, each once, in order of first need.</summary>
    public List<PredictionKey> KeysAt(int t, int timesteps)
    {
        var keys = new List<PredictionKey> { Basis };
        foreach (var method in Methods)
            if (method.IsActiveAt(t, timesteps))
                foreach (var key in method.Needs(Basis))
                    if (!keys.Contains(key)) keys.Add(key);
        return keys;
    }

    /// <summary>
    /// Network passes per sample of each network under <paramref name="sampler"/> on <paramref name="schedule"/>, counted
    /// by the rule the sampling loop follows: every evaluation the sampler makes, every prediction each one needs.
    /// </summary>
    public (int Denoiser, int Autoguidance) Passes(DiffusionSampler sampler, NoiseSchedule schedule)
    {
        int main = 0, weak = 0;
        foreach (int t in sampler.Evaluations(schedule))
            foreach (var key in KeysAt(t, schedule.Timesteps))
                if (key.Network == DenoiserRole.Main) main++; else weak++;
        return (main, weak);
    }
}
