using LatentDiffusion.Diffusion.Samplers;

namespace LatentDiffusion.Tests.Diffusion;

/// <summary>Samplers for tests, by type: the built-in ones with the settings a test asks for.</summary>
public static class TestSamplers
{
    /// <summary>Every built-in sampler type, as the registry finds them: a new one in the core joins every contract test.</summary>
    public static readonly Type[] All = [.. SamplerRegistry.Names.Select(n => SamplerRegistry.Find(n)!)
        .Where(t => t.Assembly == typeof(DiffusionSampler).Assembly)];

    /// <summary>A sampler of <paramref name="type"/> with <paramref name="steps"/> steps; spacing for the solvers, eta for DDIM.</summary>
    public static DiffusionSampler For(Type type, int steps, TimestepSpacing spacing = TimestepSpacing.Time, double eta = 0)
    {
        var sampler = (DiffusionSampler)Activator.CreateInstance(type)! with { Steps = steps };
        return sampler switch
        {
            SolverSampler solver => solver with { Spacing = spacing },
            DdimSampler ddim => ddim with { Eta = eta },
            _ => sampler,
        };
    }
}
