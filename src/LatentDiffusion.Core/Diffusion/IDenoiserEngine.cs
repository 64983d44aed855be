using LatentDiffusion.Diffusion.Guidance;

namespace LatentDiffusion.Diffusion;

/// <summary>
/// What an engine supplies to sample one batch of requests, beyond the arithmetic of its arrays: the networks'
/// predictions and each request's noise. Everything else (the sampler, guidance, the objective, clipping, the data's
/// standardisation) is <see cref="SamplingLoop"/>'s, the same for every engine.
/// </summary>
/// <typeparam name="TArray">The engine's array type.</typeparam>
public interface IDenoiserEngine<TArray> where TArray : class, ISampleArray<TArray>
{
    /// <summary>
    /// The predictions of <paramref name="network"/> for the batch <paramref name="x"/> at timestep <paramref name="t"/>,
    /// once per entry of <paramref name="conditional"/> (true: the requested labels; false: the null class), all in one
    /// pass of the network, in that order.
    /// </summary>
    IReadOnlyList<TArray> Predict(DenoiserRole network, TArray x, int t, IReadOnlyList<bool> conditional);

    /// <summary>Fresh standard normal noise shaped like the batch, each request's drawn from its own generator.</summary>
    TArray Noise();
}
