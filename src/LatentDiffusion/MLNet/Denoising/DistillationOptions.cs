using LatentDiffusion.MLNet.Estimators;

namespace LatentDiffusion.MLNet.Denoising;

/// <summary>
/// Options every distiller shares: the columns of the data the teacher learned and the student's training. The
/// student starts from its teacher, hence the small learning rate.
/// </summary>
public abstract class DistillationOptions : TrainingOptions
{
    /// <summary>Creates the options with a learning rate for a student that starts from its teacher (2e-4).</summary>
    private protected DistillationOptions() => LearningRate = 2e-4;

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

    /// <summary>Share of the rows held out for the validation loss (the last ones). Default 0.02.</summary>
    public double ValidationFraction { get; set; } = 0.02;

    /// <summary>Checks the shared options, naming <paramref name="owner"/>.</summary>
    private protected void ValidateDistillation(string owner)
    {
        OptionChecks.ColumnName(InputColumnName, nameof(InputColumnName), owner);
        if (LabelColumnName is not null) OptionChecks.ColumnName(LabelColumnName, nameof(LabelColumnName), owner);
        OptionChecks.InRange(Epochs, 1, 1_000_000, nameof(Epochs), owner);
        OptionChecks.InRange(LabelDropout, 0, 1, nameof(LabelDropout), owner);
        OptionChecks.InRange(EmaDecay, 0, 1, nameof(EmaDecay), owner, maxExclusive: true);
        OptionChecks.InRange(ValidationFraction, 0, 1, nameof(ValidationFraction), owner, maxExclusive: true);
        ValidateShared(owner);
    }
}
