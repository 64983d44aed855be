
using static TorchSharp.torch;

namespace LatentDiffusion.Diffusion;

/// <summary>
/// The TorchSharp engine's arrays: a batch of samples as a tensor on any device, for the engine-free samplers, guidance
/// and objective conversions of the core. Each operation is the tensor operation it names (so the algorithms compute
/// exactly what they computed when they were written over tensors), and lives in the current dispose scope.
/// </summary>
/// <param name="value">The tensor, [batch, ..data shape].</param>
public sealed class TorchArray(Tensor value) : ISampleArray<TorchArray>
{
    /// <summary>The tensor.</summary>
    public Tensor Value { get; } = value;

    /// <inheritdoc/>
    public static TorchArray operator +(TorchArray a, TorchArray b) => new(a.Value + b.Value);

    /// <inheritdoc/>
    public static TorchArray operator -(TorchArray a, TorchArray b) => new(a.Value - b.Value);

    /// <inheritdoc/>
    public static TorchArray operator *(double scale, TorchArray a) => new(scale * a.Value);

    /// <inheritdoc/>
    public static TorchArray operator /(TorchArray a, double divisor) => new(a.Value / divisor);

    /// <inheritdoc/>
    public TorchArray Clamp(float[] min, float[] max) => new(Value.clamp(PerIndex(min), PerIndex(max)));

    /// <inheritdoc/>
    public TorchArray ScaleShift(float[] scale, float[] shift) => new(Value * PerIndex(scale) + PerIndex(shift));

    /// <summary>Per-index values shaped to broadcast over a batch [N, first dimension, ...].</summary>
    private Tensor PerIndex(float[] values) => tensor(values, device: Value.device).view([1, values.Length, .. Enumerable.Repeat(1L, (int)Value.dim() - 2)]);

    /// <inheritdoc/>
    public TorchArray Alias() => new(Value.alias());

    /// <inheritdoc/>
    public TorchArray Keep()
    {
        Value.MoveToOuterDisposeScope();
        return this;
    }

    /// <inheritdoc/>
    public void Release() => Value.Dispose();

    /// <inheritdoc/>
    public static IDisposable? OpenScope() => NewDisposeScope();
}
