using TorchSharp;
using static TorchSharp.torch;

namespace LatentDiffusion.Training;

/// <summary>Linear warm-up to the peak learning rate, then cosine decay to <c>floor</c> times the peak.</summary>
internal sealed class WarmupCosineSchedule(double peak, long warmupSteps, long totalSteps, double floor = 0.05)
{
    public double At(long step)
    {
        if (warmupSteps > 0 && step < warmupSteps) return peak * (step + 1) / warmupSteps;
        double progress = totalSteps <= warmupSteps ? 1 : Math.Clamp((double)(step - warmupSteps) / (totalSteps - warmupSteps), 0, 1);
        return peak * (floor + (1 - floor) * 0.5 * (1 + Math.Cos(Math.PI * progress)));
    }

    public static void Apply(optim.Optimizer optimizer, double learningRate)
    {
        foreach (var group in optimizer.ParamGroups) group.LearningRate = learningRate;
    }
}

/// <summary>
/// An exponential moving average of a module's parameters, kept in a second module of the same shape. The decay
/// ramps up as (1 + n) / (10 + n) so that the average is not dominated by the random initialisation.
/// </summary>
internal sealed class ExponentialMovingAverage
{
    private readonly (Tensor Target, Tensor Source)[] pairs;
    private readonly double decay;
    private long updates;

    public ExponentialMovingAverage(nn.Module source, nn.Module target, double decay)
    {
        this.decay = decay;
        var sourceParams = source.state_dict();
        var targetParams = target.state_dict();
        pairs = sourceParams.Select(kv => (targetParams[kv.Key], kv.Value)).ToArray();
        using (no_grad())
            foreach (var (t, s) in pairs) t.copy_(s);
    }

    public void Update()
    {
        updates++;
        double d = Math.Min(decay, (1.0 + updates) / (10.0 + updates));
        using var _ = no_grad();
        foreach (var (t, s) in pairs)
        {
            if (t.is_floating_point()) t.mul_(d).add_(s, alpha: 1 - d);
            else t.copy_(s);
        }
    }
}
