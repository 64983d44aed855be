using System.Runtime.CompilerServices;
using static TorchSharp.torch;

namespace LatentDiffusion.Diffusion;

/// <summary>
/// The forward process over tensors with one timestep per sample, which training needs and sampling does not: noising,
/// regression targets and signal-to-noise ratios. The schedule's float32 square roots are made once per schedule.
/// </summary>
internal static class ScheduleTensors
{
    private sealed record Roots(Tensor SqrtAlphaBar, Tensor SqrtOneMinusAlphaBar);

    private static readonly ConditionalWeakTable<NoiseSchedule, Roots> Cache = [];

    // Kept on the CPU and moved to the data's device where used, so one schedule serves every device.
    private static Roots Of(NoiseSchedule schedule) => Cache.GetValue(schedule, s => new Roots(
        tensor(s.AlphaBars.Select(Math.Sqrt).ToArray(), device: CPU).to_type(float32).DetachFromDisposeScope(),
        tensor(s.AlphaBars.Select(a => Math.Sqrt(1 - a)).ToArray(), device: CPU).to_type(float32).DetachFromDisposeScope()));

    private static Tensor Broadcast(Tensor perSample, Tensor like) => perSample.view([perSample.shape[0], .. Enumerable.Repeat(1L, (int)like.dim() - 1)]);

    /// <summary>Signal-to-noise ratio abar / (1 - abar) at each timestep in <paramref name="t"/>.</summary>
    public static Tensor Snr(this NoiseSchedule schedule, Tensor t)
    {
        var a = Of(schedule).SqrtAlphaBar.to(t.device)[t].square();
        return a / (1 - a);
    }

    /// <summary>Samples x_t from q(x_t | x_0) given the noise: sqrt(abar_t) x0 + sqrt(1 - abar_t) eps.</summary>
    public static Tensor AddNoise(this NoiseSchedule schedule, Tensor x0, Tensor noise, Tensor t)
    {
        var roots = Of(schedule);
        var a = Broadcast(roots.SqrtAlphaBar.to(x0.device)[t], x0);
        var b = Broadcast(roots.SqrtOneMinusAlphaBar.to(x0.device)[t], x0);
        return a * x0 + b * noise;
    }

    /// <summary>The regression target of <paramref name="objective"/> for this x0, noise and t.</summary>
    public static Tensor Target(this NoiseSchedule schedule, DiffusionObjective objective, Tensor x0, Tensor noise, Tensor t)
    {
        var roots = Of(schedule);
        return objective switch
        {
            DiffusionObjective.Epsilon => noise,
            DiffusionObjective.Sample => x0,
            DiffusionObjective.Velocity =>
                Broadcast(roots.SqrtAlphaBar.to(x0.device)[t], x0) * noise - Broadcast(roots.SqrtOneMinusAlphaBar.to(x0.device)[t], x0) * x0,
            _ => throw new ArgumentOutOfRangeException(nameof(objective)),
        };
    }
}
