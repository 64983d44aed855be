using static TorchSharp.torch;

namespace LatentDiffusion.Diffusion;

/// <summary>
/// What samplers carry from one step to the next (the sample, a multistep solver's earlier predictions): each step
/// runs in its own dispose scope, and a carried tensor moves out of it while the one it replaces is disposed, so
/// memory stays flat in the number of steps.
/// </summary>
internal static class Carry
{
    /// <summary>
    /// Keeps <paramref name="next"/> past the current step's scope and disposes <paramref name="previous"/> (when there
    /// is one and it differs).
    /// </summary>
    public static Tensor Replace(Tensor? previous, Tensor next)
    {
        var kept = next.MoveToOuterDisposeScope();
        if (previous is not null && !ReferenceEquals(previous, kept)) previous.Dispose();
        return kept;
    }
}
