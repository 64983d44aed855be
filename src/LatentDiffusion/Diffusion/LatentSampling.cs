using LatentDiffusion.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace LatentDiffusion.Diffusion;

/// <summary>
/// Runs a sampler with a denoiser: the pipeline that wires network, schedule and step rule together. Every sample
/// draws its noise from its own generator seeded by its request, so a sample does not depend on its batch mates.
/// With a <paramref name="guide"/>, each step also runs the guide on the same input (autoguidance).
/// </summary>
internal sealed class LatentSampling(DenoisingUnet network, NoiseSchedule schedule, DiffusionObjective objective, long[] latentShape, DenoisingUnet? guide = null)
{
    /// <summary>The label value that asks for an unconditional sample.</summary>
    public const int Unconditional = -1;

    /// <summary>
    /// Samples one latent per (label, seed). The guidance scale of each step comes from <paramref name="options"/>: 0 = unconditional network only,
    /// 1 = conditional only, otherwise u + s (c - u). With a guide and autoguidance scale a (in its band), the network's own prediction d
    /// (conditional, or unconditional at scale 0) becomes g + a (d - g) with g the guide's, and classifier-free guidance
    /// adds (s - 1)(c - u) to it. <paramref name="onStep"/> sees the predicted x0 after each step.
    /// </summary>
    public Tensor Sample(IDiffusionSampler sampler, ReadOnlySpan<int> labels, ReadOnlySpan<long> seeds, SamplingOptions options,
        Action<int, Tensor>? onStep = null)
    {
        int n = labels.Length;
        var generators = new Generator[n];
        try
        {
            for (int i = 0; i < n; i++) generators[i] = new Generator(unchecked((ulong)seeds[i]));
            Tensor Noise() => stack(generators.Select(g => randn(latentShape, generator: g)).ToArray());

            Tensor Predict(Tensor xt, Tensor t, Tensor classes) => network.forward(xt, t, classes);

            // g + a (d - g): the prediction moved away from the guide's (a = 1 outside the autoguidance band).
            Tensor AutoGuided(Tensor own, Tensor xt, Tensor t, Tensor classes, double a)
            {
                if (guide is null || a == 1) return own;
                var g = guide.forward(xt, t, classes);
                return g + a * (own - g);
            }

            var conditional = tensor(labels.ToArray().Select(l => (long)(l < 0 ? network.NullClass : l)).ToArray());
            var unconditional = full([n], network.NullClass, dtype: int64);
            var x = Noise();
            var steps = sampler.Timesteps;
            for (int i = 0; i < steps.Count; i++)
            {
                using var scope = NewDisposeScope();
                int t = steps[i];
                var tt = full([n], t, dtype: int64);
                double scale = options.GuidanceAt(t, schedule.Timesteps), autoguidance = options.AutoguidanceAt(t, schedule.Timesteps);
                Tensor output;
                var own = scale == 0 || network.Classes == 0 ? unconditional : conditional;
                if (scale == 1 || scale == 0 || network.Classes == 0) output = AutoGuided(Predict(x, tt, own), x, tt, own, autoguidance);
                else
                {
                    var both = Predict(cat([x, x]), cat([tt, tt]), cat([conditional, unconditional])).chunk(2);
                    output = guide is null
                        ? both[1] + scale * (both[0] - both[1])
                        : AutoGuided(both[0], x, tt, conditional, autoguidance) + (scale - 1) * (both[0] - both[1]);
                }
                var (x0, eps) = schedule.Interpret(objective, output, x, t);
                var noise = sampler.IsStochastic && i + 1 < steps.Count ? Noise() : null;
                var next = sampler.Step(x, x0, eps, i, noise);
                onStep?.Invoke(i, x0);
                x.Dispose();
                x = next.MoveToOuterDisposeScope();
            }
            return x;
        }
        finally
        {
            foreach (var g in generators) g?.Dispose();
        }
    }
}
