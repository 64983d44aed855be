
namespace LatentDiffusion.Diffusion.Guidance;

/// <summary>What guidance methods share.</summary>
public static class GuidanceTerm
{
    /// <summary>
    /// Moves the prediction away from <paramref name="anchor"/> along (target - anchor) with scale s. Written as
    /// anchor + s (target - anchor) by the first method of a chain (the papers' form; there target is the current
    /// prediction) and as current + (s - 1)(target - anchor) by later ones: the same algebra, and the two spellings
    /// keep the rounding of models saved before guidance methods were objects.
    /// </summary>
    public static TArray Extrapolate<TArray>(TArray current, TArray target, TArray anchor, double scale, bool first)
        where TArray : class, ISampleArray<TArray> =>
        first ? anchor + scale * (target - anchor) : current + (scale - 1) * (target - anchor);
}
