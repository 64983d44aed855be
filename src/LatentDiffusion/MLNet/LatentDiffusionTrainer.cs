using Microsoft.Extensions.Logging;
using LatentDiffusion.Diffusion;
using LatentDiffusion.Models;
using LatentDiffusion.Training;
using Microsoft.ML;

namespace LatentDiffusion.MLNet;

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
        this.options.Validate();
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
        MemoryCheck.Training(DiffusionModel.ParameterCount(config), nameof(options.Width), options.Width, Owner);
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
        var (model, _) = DiffusionTraining.Fit(config, new TrainingData(values, labels, rows), settings, options.Run(log));
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
