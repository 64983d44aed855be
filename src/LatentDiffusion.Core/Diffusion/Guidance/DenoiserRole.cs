
namespace LatentDiffusion.Diffusion.Guidance;

/// <summary>Which network of a diffusion model makes a prediction.</summary>
public enum DenoiserRole
{
    /// <summary>The trained denoiser.</summary>
    Main,
    /// <summary>The weaker denoiser trained for autoguidance.</summary>
    Autoguidance,
}
