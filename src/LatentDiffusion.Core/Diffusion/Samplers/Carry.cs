
namespace LatentDiffusion.Diffusion.Samplers;

/// <summary>
/// What samplers carry from one step to the next (the sample, a multistep solver's earlier predictions): each step
/// runs in its own scope, and a carried array moves out of it while the one it replaces is freed, so memory stays flat
/// in the number of steps.
/// </summary>
public static class Carry
{
    /// <summary>
    /// Keeps <paramref name="next"/> past the current step's scope and frees <paramref name="previous"/> (when there
    /// is one and it is another array).
    /// </summary>
    public static TArray Replace<TArray>(TArray? previous, TArray next) where TArray : class, ISampleArray<TArray>
    {
        var kept = next.Keep();
        if (previous is not null && !ReferenceEquals(previous, kept)) previous.Release();
        return kept;
    }
}
