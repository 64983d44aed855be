
namespace LatentDiffusion.Diffusion;

/// <summary>
/// The arithmetic a sampler, a guidance rule or an objective conversion needs, which each engine supplies for its own
/// arrays: a batch of samples as one value (TorchSharp: a tensor on any device; ONNX Runtime: float arrays on the
/// host). Sums and differences of batches, products and quotients with a number, and per-index clamping and scaling
/// along the first data dimension (each channel of an image). The algorithms in this library are written once over
/// it, as the papers write them (k-diffusion's <c>sampling.py</c> is engine-free for the same reason), and every engine
/// runs them.
/// </summary>
/// <remarks>
/// Engines whose arrays hold native memory (TorchSharp) free it by scopes: <see cref="OpenScope"/> opens one per
/// sampler step, in which every array an operation makes is freed when the scope closes; <see cref="Keep"/> takes an
/// array out of the current scope (what a step carries to the next), <see cref="Release"/> frees one now, and
/// <see cref="Alias"/> is a handle of one's own on the same values. Engines with managed arrays make all four cheap
/// no-ops.
/// </remarks>
/// <typeparam name="TSelf">The engine's array type.</typeparam>
public interface ISampleArray<TSelf> where TSelf : class, ISampleArray<TSelf>
{
    /// <summary>Element by element <paramref name="a"/> + <paramref name="b"/>.</summary>
    static abstract TSelf operator +(TSelf a, TSelf b);

    /// <summary>Element by element <paramref name="a"/> - <paramref name="b"/>.</summary>
    static abstract TSelf operator -(TSelf a, TSelf b);

    /// <summary>Every element times <paramref name="scale"/> (in the array's own number format).</summary>
    static abstract TSelf operator *(double scale, TSelf a);

    /// <summary>Every element divided by <paramref name="divisor"/>.</summary>
    static abstract TSelf operator /(TSelf a, double divisor);

    /// <summary>
    /// Each element clamped to [<paramref name="min"/>[c], <paramref name="max"/>[c]], c its index along the first data
    /// dimension (one bound per channel).
    /// </summary>
    TSelf Clamp(float[] min, float[] max);

    /// <summary>Each element times <paramref name="scale"/>[c] plus <paramref name="shift"/>[c], c as in <see cref="Clamp"/>.</summary>
    TSelf ScaleShift(float[] scale, float[] shift);

    /// <summary>A handle of one's own on the same values, which the holder frees (the denoiser's outputs belong to the step).</summary>
    TSelf Alias();

    /// <summary>Takes this array out of the current step's scope, so that it outlives the step; returns it.</summary>
    TSelf Keep();

    /// <summary>Frees the array now.</summary>
    void Release();

    /// <summary>Opens a scope that frees the arrays made inside it when disposed; null when the engine needs none.</summary>
    static abstract IDisposable? OpenScope();
}
