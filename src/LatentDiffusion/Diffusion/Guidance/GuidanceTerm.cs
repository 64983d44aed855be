using static TorchSharp.torch;

namespace LatentDiffusion.Diffusion;

/// <summary>What guidance methods share.</summary>
internal static class GuidanceTerm
{
    /// <summary>
    /// Moves the prediction away from <paramref name="anchor"/> along (target - anchor) with scale s. Written as
    /// anchor + s (target - anchor) by the first method of a chain (the papers' form; there target is the current
    /// prediction) and as current + (s - 1)(target - anchor) by later ones: the same algebra, and the two spellings
    /// keep the rounding of models saved before guidance methods were objects.
    /// </summary>
    public static Tensor Extrapolate(Tensor current, Tensor target, Tensor anchor, double scale, bool first) =>
        first ? anchor + scale * (target - anchor) : current + (scale - 1) * (target - anchor);
}
