using Microsoft.Extensions.Logging;
using LatentDiffusion.Diffusion;
using LatentDiffusion.Models;
using Microsoft.ML;

namespace LatentDiffusion.MLNet;

/// <summary>Whether the diffusion trainer standardises its data first.</summary>
public enum DataStandardization
{
    /// <summary>Standardise unless the column is marked as normalised (ML.NET's <c>IsNormalized</c> annotation, which the VAE's latent column carries).</summary>
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
    /// Shape of one input row, for example (channels, height, width); null reads it from the input column's
    /// <see cref="ShapeAnnotation"/>, else takes the column as a plain vector.
    /// </summary>
    public int[]? DataShape { get; set; }
    /// <summary>The denoiser network. Default <see cref="DenoiserKind.Auto"/>: the UNet for (channels, height, width) data, the MLP for anything else.</summary>
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
    /// <summary>Optional integer seed column of requests; without it, seeds come from <see cref="TrainingOptions.Seed"/> and the row position. Default "Seed".</summary>
    public string SeedColumnName { get; set; } = "Seed";
}

/// <summary>
/// Trains a DDPM denoiser (by default a UNet with sinusoidal time embedding and class embedding with label dropout)
/// on a vector column of any fixed shape. The fitted <see cref="LatentDiffusionTransformer"/> turns request rows
/// (optional label, optional seed) into generated samples of that shape.
/// </summary>
public sealed class LatentDiffusionTrainer : IEstimator<LatentDiffusionTransformer>
{
    private const string Owner = nameof(LatentDiffusionOptions);
    private readonly MLContext? context;
    private readonly LatentDiffusionOptions options;

    /// <summary>Creates the trainer; prefer <c>mlContext.Transforms.TrainLatentDiffusion(...)</c>.</summary>
    public LatentDiffusionTrainer(MLContext? context, LatentDiffusionOptions? options = null)
    {
        this.context = context;
        this.options = options ?? new LatentDiffusionOptions();
        var o = this.options;
        OptionChecks.ColumnName(o.InputColumnName, nameof(o.InputColumnName), Owner);
        if (o.LabelColumnName is not null)
        {
            OptionChecks.ColumnName(o.LabelColumnName, nameof(o.LabelColumnName), Owner);
            OptionChecks.InRange(o.Classes, 1, Denoisers.MaxClasses, nameof(o.Classes), Owner);
        }
        if (o.DataShape is { } shape && (shape.Length == 0 || shape.Any(d => d is < 1 or > Denoisers.MaxSide)))
            throw new ArgumentOutOfRangeException(nameof(o.DataShape), $"[{string.Join(", ", shape)}]", $"{Owner}.DataShape must have at least one dimension, each in 1..{Denoisers.MaxSide}.");
        OptionChecks.Defined(o.Denoiser, nameof(o.Denoiser), Owner);
        OptionChecks.InRange(o.Timesteps, 2, DiffusionModelConfig.MaxTimesteps, nameof(o.Timesteps), Owner);
        OptionChecks.Defined(o.Schedule, nameof(o.Schedule), Owner);
        OptionChecks.Defined(o.Objective, nameof(o.Objective), Owner);
        OptionChecks.Defined(o.Loss, nameof(o.Loss), Owner);
        OptionChecks.Defined(o.LossWeighting, nameof(o.LossWeighting), Owner);
        OptionChecks.Positive(o.MinSnrGamma, nameof(o.MinSnrGamma), Owner);
        OptionChecks.InRange(o.Depth, 1, Denoisers.MaxDepth, nameof(o.Depth), Owner);
        OptionChecks.InRange(o.Levels, 2, 3, nameof(o.Levels), Owner);
        OptionChecks.Defined(o.Standardization, nameof(o.Standardization), Owner);
        CheckWidth(o.Width, nameof(o.Width), allowZero: false);
        OptionChecks.InRange(o.Epochs, 1, 1_000_000, nameof(o.Epochs), Owner);
        CheckWidth(o.AutoguidanceWidth, nameof(o.AutoguidanceWidth), allowZero: true);
        if (o.AutoguidanceWidth > 0) OptionChecks.InRange(o.AutoguidanceEpochs, 1, 1_000_000, nameof(o.AutoguidanceEpochs), Owner);
        OptionChecks.InRange(o.EmaDecay, 0, 1, nameof(o.EmaDecay), Owner, maxExclusive: true);
        OptionChecks.InRange(o.LabelDropout, 0, 1, nameof(o.LabelDropout), Owner);
        OptionChecks.InRange(o.ValidationFraction, 0, 1, nameof(o.ValidationFraction), Owner, maxExclusive: true);
        OptionChecks.ColumnName(o.OutputColumnName, nameof(o.OutputColumnName), Owner);
        OptionChecks.ColumnName(o.SeedColumnName, nameof(o.SeedColumnName), Owner);
        o.ValidateShared(Owner);
        OptionChecks.NotNull(o.Sampling, nameof(o.Sampling), Owner);
        o.Sampling.Validate(o.Timesteps);
        if (o.Sampling.AutoguidanceScale != 1 && o.AutoguidanceWidth == 0)
            throw new ArgumentOutOfRangeException(nameof(SamplingOptions.AutoguidanceScale), o.Sampling.AutoguidanceScale,
                $"{Owner}.Sampling.AutoguidanceScale differs from 1 but {Owner}.AutoguidanceWidth is 0: autoguidance needs an autoguidance denoiser.");
    }

    private static void CheckWidth(int width, string option, bool allowZero)
    {
        if (allowZero && width == 0) return;
        if (width is < 8 or > Denoisers.MaxWidth || width % 2 != 0)
            throw new ArgumentOutOfRangeException(option, width, $"{Owner}.{option} must be an even number in 8..{Denoisers.MaxWidth}{(allowZero ? ", or 0 for none" : "")}.");
    }

    /// <summary>The column the fitted transformer writes.</summary>
    internal string OutputColumnName => options.OutputColumnName;

    /// <inheritdoc/>
    public LatentDiffusionTransformer Fit(IDataView input)
    {
        string column = options.InputColumnName;
        int size = ColumnReader.RequireFloatVector(input.Schema, column, "data to learn");
        if (options.LabelColumnName is not null) ColumnReader.RequireInteger(input.Schema, options.LabelColumnName, "class labels");
        if (input.Schema.GetColumnOrNull(options.SeedColumnName) is not null) ColumnReader.RequireInteger(input.Schema, options.SeedColumnName, "request seeds");
        var (declared, source) = ColumnReader.DeclaredShape(input.Schema[column], options.DataShape);
        var shape = declared ?? [size];
        string shapeOption = $"{Owner}.{nameof(options.DataShape)}";
        if (shape.Aggregate(1L, (a, b) => a * b) != size)
            throw new ArgumentOutOfRangeException(source == ColumnReader.ShapeSource.Option ? nameof(options.DataShape) : column,
                $"Column '{column}' holds {size} values per row, but the data shape [{string.Join(", ", shape)}] (from "
                + $"{ColumnReader.Describe(source, shapeOption)}) has {shape.Aggregate(1L, (a, b) => a * b)}.");
        string data = $"column '{column}'";
        int classes = options.LabelColumnName is null ? 0 : options.Classes;
        var denoiser = new DenoiserConfig
        {
            Kind = Denoisers.Resolve(options.Denoiser, shape, column), DataShape = shape, Width = options.Width, Classes = classes, Depth = options.Depth,
            Levels = options.Levels,
        };
        var config = new DiffusionModelConfig
        {
            Denoiser = denoiser, Schedule = options.Schedule, Timesteps = options.Timesteps, Objective = options.Objective,
            Autoguidance = options.AutoguidanceWidth > 0 ? denoiser with { Width = options.AutoguidanceWidth } : null,
        };
        config.Validate(data);
        MemoryCheck.Training(Denoisers.ParameterCount(config.Denoiser) + (config.Autoguidance is { } weak ? Denoisers.ParameterCount(weak) : 0),
            nameof(options.Width), options.Width, Owner);
        var (values, labels, rows) = ColumnReader.ReadAll(input, column, size, options.LabelColumnName, classes, options.CancellationToken);

        using var log = new ComponentLogger(context, options.Logger, nameof(LatentDiffusionTrainer));
        log.LogInformation("Column '{Column}' is shaped [{Shape}] (from {Source}): the {Kind} denoiser ({Why})", column, string.Join(", ", shape),
            ColumnReader.Describe(source, shapeOption), denoiser.Kind, options.Denoiser != DenoiserKind.Auto ? $"{nameof(options.Denoiser)} asks for it"
            : declared is null ? $"a plain vector; set {shapeOption} to (channels, height, width) for images" : shape.Length == 3 ? "an image shape" : "not an image shape");
        var settings = new DiffusionTrainingSettings
        {
            Epochs = options.Epochs, LabelDropout = options.LabelDropout, EmaDecay = options.EmaDecay,
            Loss = new DiffusionLoss(options.Loss, options.LossWeighting, options.MinSnrGamma),
            ValidationFraction = options.ValidationFraction, AutoguidanceEpochs = options.AutoguidanceEpochs,
            Standardise = options.Standardization switch
            {
                DataStandardization.Auto => !ColumnReader.IsNormalized(input.Schema[column]),
                var s => s == DataStandardization.PerChannel,
            },
        };
        var model = DiffusionTraining.Fit(config, values, labels, rows, settings, options.Run(log));
        return new LatentDiffusionTransformer(model, new LatentDiffusionTransformer.Settings
        {
            LabelColumn = options.LabelColumnName, SeedColumn = options.SeedColumnName, OutputColumn = options.OutputColumnName, Seed = options.Seed,
            Sampling = options.Sampling.Clone(),
        });
    }

    /// <inheritdoc/>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ComponentSupport.RequireFloatVectorShape(inputSchema, options.InputColumnName, "data to learn");
        if (options.LabelColumnName is not null) ComponentSupport.RequireIntegerShape(inputSchema, options.LabelColumnName, "class labels");
        ComponentSupport.OptionalIntegerShape(inputSchema, options.SeedColumnName, "request seeds");
        var shape = options.DataShape ?? [1];
        return ComponentSupport.Append(inputSchema, [LatentDiffusionTransformer.OutputColumn(options.OutputColumnName, shape)]);
    }
}
