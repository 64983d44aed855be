
namespace LatentDiffusion.Diffusion.Guidance;

/// <summary>
/// Where a guidance method applies: the band of noise levels (t + 1) / T it is given, for the full library's guidance
/// methods and the ONNX Runtime sampling loop alike.
/// </summary>
public static class NoiseBand
{
    /// <summary>Whether timestep <paramref name="t"/> of <paramref name="timesteps"/> has its noise level (t + 1) / T in [low, high].</summary>
    public static bool Contains(int t, int timesteps, double low, double high)
    {
        double noiseLevel = (t + 1.0) / timesteps;
        return noiseLevel >= low && noiseLevel <= high;
    }
}
