using LatentDiffusion.Diffusion;

namespace LatentDiffusion.MLNet.Denoising;

/// <summary>Options of <see cref="GuidanceDistiller"/>: the training data's columns, the student's training and its loss.</summary>
public sealed class GuidanceDistillationOptions : DistillationOptions
{
    /// <summary>The loss weighting over timesteps. Default <see cref="Diffusion.LossWeighting.MinSnr"/>.</summary>
    public LossWeighting LossWeighting { get; set; } = LossWeighting.MinSnr;

    /// <summary>The cap of <see cref="Diffusion.LossWeighting.MinSnr"/>. Default 5.</summary>
    public double MinSnrGamma { get; set; } = 5;

    /// <inheritdoc/>
    internal override void Validate()
    {
        const string Owner = nameof(GuidanceDistillationOptions);
        OptionChecks.Defined(LossWeighting, nameof(LossWeighting), Owner);
        OptionChecks.Positive(MinSnrGamma, nameof(MinSnrGamma), Owner);
        ValidateDistillation(Owner);
    }
}
