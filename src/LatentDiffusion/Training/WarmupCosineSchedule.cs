
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
