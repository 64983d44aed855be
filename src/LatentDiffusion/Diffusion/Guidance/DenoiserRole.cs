namespace LatentDiffusion.Diffusion;

/// <summary>Which network of a diffusion model makes a prediction.</summary>
internal enum DenoiserRole
{
    /// <summary>The trained denoiser.</summary>
    Main,
    /// <summary>The weaker denoiser trained for autoguidance.</summary>
    Autoguidance,
}

/// <summary>One network prediction at a step: which network, and whether it sees the requested labels or the null class.</summary>
internal readonly record struct PredictionKey(DenoiserRole Network, bool Conditional);
