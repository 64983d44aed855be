using LatentDiffusion.Diffusion;
using LatentDiffusion.MLNet.Estimators;

namespace LatentDiffusion.MLNet.Denoising;

/// <summary>Options of <see cref="GuidanceDistiller"/>: the training data's columns and the student's training.</summary>
public sealed class GuidanceDistillationOptions : TrainingOptions
{
    /// <summary>Creates the options with a learning rate for a student that starts from its teacher (2e-4).</summary>
    public GuidanceDistillationOptions() => LearningRate = 2e-4;

    /// <summary>The column of training data: what the teacher learned (for a latent model, the VAE's latents). Default "Latent".</summary>
    public string InputColumnName { get; set; } = "Latent";

    /// <summary>The training labels of a class-conditional teacher; null for an unconditional one. Default "Label".</summary>
    public string? LabelColumnName { get; set; } = "Label";

    /// <summary>Passes over the training rows. Default 4.</summary>
    public int Epochs { get; set; } = 4;

    /// <summary>Share of rows whose label becomes the null class, so the student also learns the unguided unconditional prediction. Default 0.1.</summary>
    public double LabelDropout { get; set; } = 0.1;

    /// <summary>Decay of the student's weight average, which is what samples. Default 0.999.</summary>
    public double EmaDecay { get; set; } = 0.999;

    /// <summary>The loss weighting over timesteps. Default <see cref="Diffusion.LossWeighting.MinSnr"/>.</summary>
    public LossWeighting LossWeighting { get; set; } = LossWeighting.MinSnr;

    /// <summary>The cap of <see cref="Diffusion.LossWeighting.MinSnr"/>. Default 5.</summary>
    public double MinSnrGamma { get; set; } = 5;

    /// <summary>Share of the rows held out for the validation loss (the last ones). Default 0.02.</summary>
    public double ValidationFraction { get; set; } = 0.02;

    /// <inheritdoc/>
    internal override void Validate()
    {
        const string Owner = nameof(GuidanceDistillationOptions);
        OptionChecks.ColumnName(InputColumnName, nameof(InputColumnName), Owner);
        if (LabelColumnName is not null) OptionChecks.ColumnName(LabelColumnName, nameof(LabelColumnName), Owner);
        OptionChecks.InRange(Epochs, 1, 1_000_000, nameof(Epochs), Owner);
        OptionChecks.InRange(LabelDropout, 0, 1, nameof(LabelDropout), Owner);
        OptionChecks.InRange(EmaDecay, 0, 1, nameof(EmaDecay), Owner, maxExclusive: true);
        OptionChecks.Defined(LossWeighting, nameof(LossWeighting), Owner);
        OptionChecks.Positive(MinSnrGamma, nameof(MinSnrGamma), Owner);
        OptionChecks.InRange(ValidationFraction, 0, 1, nameof(ValidationFraction), Owner, maxExclusive: true);
        ValidateShared(Owner);
    }
}
