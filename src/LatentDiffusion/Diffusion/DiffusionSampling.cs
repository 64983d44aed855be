using LatentDiffusion.Models;
using static TorchSharp.torch;

namespace LatentDiffusion.Diffusion;

/// <summary>The guidance methods of one sampling run and the base prediction they start from.</summary>
internal sealed class GuidancePlan(SamplingOptions options, int classes)
{
    /// <summary>The base prediction: the denoiser with the requested labels, or with the null class at guidance 0 and on unconditional models.</summary>
    public PredictionKey Basis { get; } = new(DenoiserRole.Main, ClassifierFreeGuidance.BasisIsConditional(options, classes));

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
}

/// <summary>
/// The sampling pipeline: networks, schedule and guidance wired into the denoise function a sampler runs its own loop
/// over. Each call gathers the predictions the guidance methods need (one batched pass per network), combines them and
/// interprets the objective as (x0, eps). Every sample draws its noise from its own generator seeded by its request (all
/// 64 bits of it: <see cref="Runtime.SeededGenerator"/>), so a sample does not depend on its batch mates.
/// </summary>
internal static class DiffusionSampling
{
    public static Tensor Sample(Func<DenoiserRole, Denoiser> networks, NoiseSchedule schedule, DiffusionObjective objective,
        IDiffusionSampler sampler, GuidancePlan plan, ReadOnlySpan<int> labels, ReadOnlySpan<long> seeds, int[] dataShape, Device device,
        Action<int, Tensor, Tensor>? onStep = null, (Tensor Min, Tensor Max)? clip = null)
    {
        int n = labels.Length;
        long[] shape = dataShape.Select(d => (long)d).ToArray();
        var generators = new Generator[n];
        try
        {
            for (int i = 0; i < n; i++) generators[i] = Runtime.SeededGenerator.Create(seeds[i]);
            Tensor Noise() => stack(generators.Select(g => randn(shape, generator: g, device: CPU)).ToArray()).to(device);

            int nullClass = networks(DenoiserRole.Main).NullClass;
            var conditional = tensor(labels.ToArray().Select(l => (long)(l < 0 ? nullClass : l)).ToArray(), device: device);
            var unconditional = full([n], nullClass, dtype: int64, device: device);

            // The denoiser as the sampler sees it: every prediction the guidance methods need at t (one batched pass per
            // network), combined, read as (x0, eps) under the objective, x0 clipped to the data's range.
            (Tensor, Tensor) Denoise(Tensor x, int t)
            {
                var tt = full([n], t, dtype: int64, device: device);
                var predictions = Predict(networks, plan.KeysAt(t, schedule.Timesteps), x, tt, conditional, unconditional);
                var output = predictions[plan.Basis];
                bool first = true;
                foreach (var method in plan.Methods)
                {
                    if (method.IsActiveAt(t, schedule.Timesteps)) output = method.Combine(output, plan.Basis, predictions, first);
                    first = false;
                }
                var (x0, eps) = schedule.Interpret(objective, output, x, t);
                if (clip is var (low, high))
                {
                    x0 = x0.clamp(low, high);
                    eps = schedule.NoiseFor(x, x0, t);
                }
                return (x0, eps);
            }

            return sampler.Sample(Noise(), Denoise, Noise, onStep);
        }
        finally
        {
            foreach (var g in generators) g?.Dispose();
        }
    }

    /// <summary>The predictions of <paramref name="keys"/>: one pass per network, its requests stacked along the batch in key order.</summary>
    private static Dictionary<PredictionKey, Tensor> Predict(Func<DenoiserRole, Denoiser> networks, List<PredictionKey> keys, Tensor x, Tensor t,
        Tensor conditional, Tensor unconditional)
    {
        var predictions = new Dictionary<PredictionKey, Tensor>();
        foreach (var group in keys.GroupBy(k => k.Network))
        {
            var batch = group.ToList();
            var network = networks(group.Key);
            Tensor Labels(PredictionKey key) => key.Conditional ? conditional : unconditional;
            if (batch.Count == 1)
            {
                predictions[batch[0]] = network.forward(x, t, Labels(batch[0]));
                continue;
            }
            var outputs = network.forward(cat(Enumerable.Repeat(x, batch.Count).ToArray()), cat(Enumerable.Repeat(t, batch.Count).ToArray()),
                cat(batch.Select(Labels).ToArray())).chunk(batch.Count);
            for (int i = 0; i < batch.Count; i++) predictions[batch[i]] = outputs[i];
        }
        return predictions;
    }
}
