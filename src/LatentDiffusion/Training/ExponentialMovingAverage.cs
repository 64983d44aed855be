
using static TorchSharp.torch;

namespace LatentDiffusion.Training;

/// <summary>
/// An exponential moving average of a module's weights, kept in a second module of the same shape. The decay ramps up
/// as (1 + n) / (10 + n) so that the average is not dominated by the random initialisation. The source weights come by
/// name with each update (float32 masters under mixed precision, whose tensors are not the module's own).
/// </summary>
internal sealed class ExponentialMovingAverage
{
    private readonly Dictionary<string, Tensor> targets;
    private readonly double decay;
    private long updates;

    public ExponentialMovingAverage(nn.Module source, nn.Module target, double decay)
    {
        this.decay = decay;
        targets = target.state_dict();
        var sources = source.state_dict();
        if (sources.Count != targets.Count || sources.Keys.Any(k => !targets.ContainsKey(k)))
            throw new ArgumentException("The averaged module and its source differ in shape.", nameof(target));
        using (no_grad())
            foreach (var (name, value) in sources) targets[name].copy_(value);
    }

    /// <summary>The averaged weights by name (the target module's own tensors).</summary>
    public IReadOnlyDictionary<string, Tensor> Targets => targets;

    /// <summary>Updates so far, which set the decay's ramp; restored with the weights when a run resumes.</summary>
    public long Updates { get => updates; set => updates = value; }

    public void Update(IEnumerable<(string Name, Tensor Value)> source)
    {
        updates++;
        double d = Math.Min(decay, (1.0 + updates) / (10.0 + updates));
        using var _ = no_grad();
        foreach (var (name, value) in source)
        {
            var t = targets[name];
            if (t.is_floating_point()) t.mul_(d).add_(value, alpha: 1 - d);
            else t.copy_(value);
        }
    }
}
