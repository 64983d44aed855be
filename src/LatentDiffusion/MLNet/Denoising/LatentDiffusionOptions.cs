using LatentDiffusion.Diffusion;
using LatentDiffusion.MLNet.Estimators;
using LatentDiffusion.Models;
using LatentDiffusion.Models.Denoisers;

namespace LatentDiffusion.MLNet.Denoising;

/// <summary>Whether the diffusion trainer standardises its data first.</summary>
public enum DataStandardization
{
    /// <summary>
    /// Standardise unless the column is marked as normalised (ML.NET's <c>IsNormalized</c> annotation, which the VAE's
    /// latent column carries).
    /// </summary>
    Auto,
    /// <summary>Learn the data as it comes.</summary>
    None,
    /// <summary>
    /// Subtract the mean and divide by the standard deviation of each index of the first data dimension (each channel of
    /// an image, each element of a vector), as measured on the training data; samples are mapped back.
    /// </summary>
    PerChannel,
}

/// <summary>Options of <see cref="LatentDiffusionTrainer"/>.</summary>
public sealed class LatentDiffusionOptions : TrainingOptions
{
    /// <summary>Input: the data to learn, a known-size vector of Single (latents, pixels, any fixed-size vector). Default "Latent".</summary>
    public string InputColumnName { get; set; } = "Latent";
    /// <summary>Optional integer class column (0..Classes-1); null trains an unconditional model. Default "Label".</summary>
    public string? LabelColumnName { get; set; } = "Label";
    /// <summary>Number of classes when a label column is used, 1..100000. Default 10.</summary>
    public int Classes { get; set; } = 10;
    /// <summary>
    /// Self-labelled guidance for data without labels (needs <see cref="LabelColumnName"/> = null): the training rows
    /// are split into this many k-means clusters (ML.NET's, on the rows themselves: for a latent model, the VAE's
    /// latents), the denoiser is conditioned on the cluster, and each request without a label samples a cluster drawn
    /// in proportion to its size, with <see cref="SamplingOptions.GuidanceScale"/> as for labels. No label column is
    /// read. 0: off. Default 0.
    /// </summary>
    public int SelfLabelClusters { get; set; }
    /// <summary>
    /// Shape of one input row, for example (channels, height, width); null reads it from the input column's
    /// <see cref="ShapeAnnotation"/>, else takes the column as a plain vector.
    /// </summary>
    public int[]? DataShape { get; set; }
    /// <summary>
    /// The denoiser network. Default <see cref="DenoiserKind.Auto"/>: the UNet for (channels, height, width) data, the
    /// MLP for anything else.
    /// </summary>
    public DenoiserKind Denoiser { get; set; } = DenoiserKind.Auto;
    /// <summary>Residual blocks of the MLP denoiser, 1..64. Default 4.</summary>
    public int Depth { get; set; } = 4;
    /// <summary>Resolution levels of the UNet denoiser, 2 (for small latents such as 7x7) or 3 (for larger inputs such as 28x28 pixels). Default 2.</summary>
    public int Levels { get; set; } = 2;
    /// <summary>
    /// Diffusion assumes data of about unit scale; this maps the data there first. Default <see cref="DataStandardization.Auto"/>:
    /// standardise unless the column is marked as normalised, as the VAE's latents are.
    /// </summary>
    public DataStandardization Standardization { get; set; } = DataStandardization.Auto;
    /// <summary>Diffusion steps T, 2..100000. Default 1000.</summary>
    public int Timesteps { get; set; } = 1000;
    /// <summary>Noise schedule. Default linear (the original DDPM schedule).</summary>
    public NoiseScheduleKind Schedule { get; set; } = NoiseScheduleKind.Linear;
    /// <summary>What the denoiser predicts. Default epsilon (the original DDPM objective).</summary>
    public DiffusionObjective Objective { get; set; } = DiffusionObjective.Epsilon;
    /// <summary>How the prediction error is measured. Default mean squared error.</summary>
    public DiffusionLossKind Loss { get; set; } = DiffusionLossKind.MeanSquaredError;
    /// <summary>How each timestep's loss is weighted. Default none.</summary>
    public LossWeighting LossWeighting { get; set; } = LossWeighting.None;
    /// <summary>
    /// The cap gamma of <see cref="LossWeighting.MinSnr"/> (Hang et al., "Efficient diffusion training via Min-SNR
    /// weighting strategy"): each timestep's loss counts as an x0 error weighted by min(SNR, gamma). Above 0. Default 5.
    /// </summary>
    public double MinSnrGamma { get; set; } = 5;
    /// <summary>Denoiser width (channels at full resolution; doubled below), an even number in 8..4096. Default 48.</summary>
    public int Width { get; set; } = 48;
    /// <summary>Training epochs, at least 1. Default 20.</summary>
    public int Epochs { get; set; } = 20;
    /// <summary>
    /// Width of the autoguidance denoiser: a second, smaller denoiser trained on the same data for
    /// <see cref="AutoguidanceEpochs"/> after the main one, whose errors <see cref="SamplingOptions.AutoguidanceScale"/>
    /// steers samples away from (Karras et al. 2024). It should be well below <see cref="Width"/>. 0 trains none. Default 0.
    /// </summary>
    public int AutoguidanceWidth { get; set; }
    /// <summary>Training epochs of the autoguidance denoiser (it should be clearly weaker than the main one). Default 6.</summary>
    public int AutoguidanceEpochs { get; set; } = 6;
    /// <summary>EMA decay of the sampling weights, in [0, 1). Default 0.999.</summary>
    public double EmaDecay { get; set; } = 0.999;
    /// <summary>Probability of replacing a label by "none" in training (enables unconditional and guided sampling), in [0, 1]. Default 0.1.</summary>
    public double LabelDropout { get; set; } = 0.1;
    /// <summary>Share of rows held out for the validation loss, in [0, 1). Default 0.02.</summary>
    public double ValidationFraction { get; set; } = 0.02;
    /// <summary>How the fitted transformer samples.</summary>
    public SamplingOptions Sampling { get; set; } = new();
    /// <summary>Output column of generated samples. Default "GeneratedLatent".</summary>
    public string OutputColumnName { get; set; } = "GeneratedLatent";
    /// <summary>
    /// Optional integer seed column of requests; without it, seeds come from <see cref="TrainingOptions.Seed"/> and the
    /// row position. Default "Seed".
    /// </summary>
    public string SeedColumnName { get; set; } = "Seed";

    /// <summary>Checks every option on its own; the denoiser's width rule is <see cref="DenoiserConfig.CheckWidth"/>'s.</summary>
    internal override void Validate()
    {
        const string Owner = nameof(LatentDiffusionOptions);
        OptionChecks.ColumnName(InputColumnName, nameof(InputColumnName), Owner);
        if (LabelColumnName is not null)
        {
            OptionChecks.ColumnName(LabelColumnName, nameof(LabelColumnName), Owner);
            OptionChecks.InRange(Classes, 1, DenoiserConfig.MaxClasses, nameof(Classes), Owner);
        }
        if (DataShape is { } shape && (shape.Length == 0 || shape.Any(d => d is < 1 or > DenoiserConfig.MaxSide)))
            throw new ArgumentOutOfRangeException(nameof(DataShape), $"[{string.Join(", ", shape)}]",
                $"{Owner}.DataShape must have at least one dimension, each in 1..{DenoiserConfig.MaxSide}.");
        if (SelfLabelClusters != 0)
        {
            OptionChecks.InRange(SelfLabelClusters, 2, 10_000, nameof(SelfLabelClusters), Owner, "0 = off");
            if (LabelColumnName is not null)
                throw new ArgumentOutOfRangeException(nameof(SelfLabelClusters), SelfLabelClusters, $"{Owner}.SelfLabelClusters must be 0 when "
                    + $"{Owner}.LabelColumnName is set ('{LabelColumnName}'), got {SelfLabelClusters}: self-labelling is for data without labels "
                    + "(set LabelColumnName = null).");
            if (StreamTrainingData)
                throw new ArgumentOutOfRangeException(nameof(SelfLabelClusters), SelfLabelClusters, $"{Owner}.SelfLabelClusters must be 0 with "
                    + $"{Owner}.StreamTrainingData, got {SelfLabelClusters}: the clustering needs the rows in memory.");
        }
        OptionChecks.Defined(Denoiser, nameof(Denoiser), Owner);
        OptionChecks.InRange(Timesteps, 2, DiffusionModelConfig.MaxTimesteps, nameof(Timesteps), Owner);
        OptionChecks.Defined(Schedule, nameof(Schedule), Owner);
        OptionChecks.Defined(Objective, nameof(Objective), Owner);
        OptionChecks.Defined(Loss, nameof(Loss), Owner);
        OptionChecks.Defined(LossWeighting, nameof(LossWeighting), Owner);
        OptionChecks.Positive(MinSnrGamma, nameof(MinSnrGamma), Owner);
        OptionChecks.InRange(Depth, 1, DenoiserConfig.MaxDepth, nameof(Depth), Owner);
        OptionChecks.InRange(Levels, DenoisingUnet.MinLevels, DenoisingUnet.MaxLevels, nameof(Levels), Owner);
        OptionChecks.Defined(Standardization, nameof(Standardization), Owner);
        DenoiserConfig.CheckWidth(Width, nameof(Width), $"{Owner}.{nameof(Width)}");
        OptionChecks.InRange(Epochs, 1, 1_000_000, nameof(Epochs), Owner);
        DenoiserConfig.CheckWidth(AutoguidanceWidth, nameof(AutoguidanceWidth), $"{Owner}.{nameof(AutoguidanceWidth)}", allowZero: true);
        if (AutoguidanceWidth > 0) OptionChecks.InRange(AutoguidanceEpochs, 1, 1_000_000, nameof(AutoguidanceEpochs), Owner);
        OptionChecks.InRange(EmaDecay, 0, 1, nameof(EmaDecay), Owner, maxExclusive: true);
        OptionChecks.InRange(LabelDropout, 0, 1, nameof(LabelDropout), Owner);
        OptionChecks.InRange(ValidationFraction, 0, 1, nameof(ValidationFraction), Owner, maxExclusive: true);
        OptionChecks.ColumnName(OutputColumnName, nameof(OutputColumnName), Owner);
        OptionChecks.ColumnName(SeedColumnName, nameof(SeedColumnName), Owner);
        ValidateShared(Owner);
        OptionChecks.NotNull(Sampling, nameof(Sampling), Owner);
        Sampling.Validate(new NoiseSchedule(Schedule, Timesteps));
        if (Sampling.AutoguidanceScale != 1 && AutoguidanceWidth == 0)
            throw new ArgumentOutOfRangeException(nameof(SamplingOptions.AutoguidanceScale), Sampling.AutoguidanceScale,
                $"{Owner}.Sampling.AutoguidanceScale differs from 1 but {Owner}.AutoguidanceWidth is 0: autoguidance needs an autoguidance denoiser.");
    }
}
