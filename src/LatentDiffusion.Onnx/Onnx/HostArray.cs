using LatentDiffusion.Diffusion;

namespace LatentDiffusion.Onnx;

/// <summary>
/// The ONNX Runtime engine's arrays: a batch of samples as one float array on the host, row after row, for the
/// engine-free samplers, guidance and objective conversions of the core. Each operation computes in float32 as the
/// TorchSharp engine's tensors do on the CPU (a number is rounded to float32 first, as libtorch's kernels round it), so
/// the two engines agree to float rounding.
/// </summary>
/// <param name="values">rows x <paramref name="rowSize"/> floats.</param>
/// <param name="rowSize">Floats per sample.</param>
/// <param name="channels">The size of the first data dimension (per-index operations act along it).</param>
public sealed class HostArray(float[] values, int rowSize, int channels) : ISampleArray<HostArray>
{
    /// <summary>The values, row-major.</summary>
    public float[] Values { get; } = values;

    private HostArray Map(Func<int, float> value)
    {
        var result = new float[Values.Length];
        for (int i = 0; i < result.Length; i++) result[i] = value(i);
        return new HostArray(result, rowSize, channels);
    }

    /// <inheritdoc/>
    public static HostArray operator +(HostArray a, HostArray b) => a.Map(i => a.Values[i] + b.Values[i]);

    /// <inheritdoc/>
    public static HostArray operator -(HostArray a, HostArray b) => a.Map(i => a.Values[i] - b.Values[i]);

    /// <inheritdoc/>
    public static HostArray operator *(double scale, HostArray a)
    {
        float s = (float)scale;
        return a.Map(i => s * a.Values[i]);
    }

    /// <inheritdoc/>
    public static HostArray operator /(HostArray a, double divisor)
    {
        float d = (float)divisor;
        return a.Map(i => a.Values[i] / d);
    }

    /// <summary>The index along the first data dimension of value <paramref name="i"/>.</summary>
    private int Index(int i) => i % rowSize / (rowSize / channels);

    /// <inheritdoc/>
    public HostArray Clamp(float[] min, float[] max) => Map(i => Math.Clamp(Values[i], min[Index(i)], max[Index(i)]));

    /// <inheritdoc/>
    public HostArray ScaleShift(float[] scale, float[] shift) => Map(i => Values[i] * scale[Index(i)] + shift[Index(i)]);

    /// <inheritdoc/>
    public HostArray Alias() => this;

    /// <inheritdoc/>
    public HostArray Keep() => this;

    /// <inheritdoc/>
    public void Release()
    {
    }

    /// <inheritdoc/>
    public static IDisposable? OpenScope() => null;
}
