using LatentDiffusion.Diffusion;
using LatentDiffusion.MLNet.Estimators;
using LatentDiffusion.Models;
using LatentDiffusion.Models.Denoisers;
using Microsoft.Extensions.Logging;
using Microsoft.ML;
using Microsoft.ML.Runtime;

namespace LatentDiffusion.MLNet.Denoising;

/// <summary>
/// Trains a DDPM denoiser (by default a UNet with sinusoidal time embedding and class embedding with label dropout)
/// on a vector column of any fixed shape. The fitted <see cref="LatentDiffusionTransformer"/> turns request rows
/// (optional label, optional seed) into generated samples of that shape.
/// </summary>
public sealed class LatentDiffusionTrainer : TrainingEstimator<LatentDiffusionOptions, LatentDiffusionTransformer>
{
    private const string Owner = nameof(LatentDiffusionOptions);

    /// <summary>Creates the trainer; prefer <c>mlContext.Transforms.TrainLatentDiffusion(...)</c>.</summary>
    public LatentDiffusionTrainer(IHostEnvironment? context, LatentDiffusionOptions? options = null)
        : base(context, options)
    {
    }

    /// <summary>The column the fitted transformer writes.</summary>
    internal string OutputColumnName => Options.OutputColumnName;

    /// <inheritdoc/>
    public override LatentDiffusionTransformer Fit(IDataView input)
    {
        string column = Options.InputColumnName;
        int size = ColumnReader.RequireFloatVector(input.Schema, column, "data to learn");
        if (Options.LabelColumnName is not null) ColumnReader.RequireInteger(input.Schema, Options.LabelColumnName, "class labels");
        if (input.Schema.GetColumnOrNull(Options.SeedColumnName) is not null) ColumnReader.RequireInteger(input.Schema, Options.SeedColumnName,
            "request seeds");
        var (declared, source) = ColumnReader.DeclaredShape(input.Schema[column], Options.DataShape);
        var shape = declared ?? [size];
        string shapeOption = $"{Owner}.{nameof(Options.DataShape)}";
        if (shape.Aggregate(1L, (a, b) => a * b) != size)
            throw new ArgumentOutOfRangeException(source == ColumnReader.ShapeSource.Option ? nameof(Options.DataShape) : column,
                $"Column '{column}' holds {size} values per row, but the data shape [{string.Join(", ", shape)}] (from "
                + $"{ColumnReader.Describe(source, shapeOption)}) has {shape.Aggregate(1L, (a, b) => a * b)}.");
        string data = $"column '{column}'";
        int classes = Options.SelfLabelClusters > 0 ? Options.SelfLabelClusters : Options.LabelColumnName is null ? 0 : Options.Classes;
        var denoiser = new DenoiserConfig
        {
            Kind = DenoiserNetworks.Resolve(Options.Denoiser, shape, column), DataShape = shape, Classes = classes,
            Width = Options.Width, Depth = Options.Depth, Levels = Options.Levels,
        };
        var config = new DiffusionModelConfig
        {
            Denoiser = denoiser, Schedule = Options.Schedule, Timesteps = Options.Timesteps, Objective = Options.Objective,
            Autoguidance = Options.AutoguidanceWidth > 0 ? denoiser with { Width = Options.AutoguidanceWidth } : null,
        };
        DiffusionModel.Validate(config, data);
        MemoryCheck.Training(DiffusionModel.ParameterCount(config), nameof(Options.Width), Options.Width, Owner);
        using var log = new ComponentLogger(Context, Options.Logger, nameof(LatentDiffusionTrainer));
        var samples = Options.ReadTrainingData(input, column, size, Options.LabelColumnName, classes, "diffusion", log);
        if (Options.SelfLabelClusters > 0)
        {
            (samples, var shares) = SelfLabels.Assign(samples, shape, Options.SelfLabelClusters, Options.Seed, log);
            config = config with { ClusterShares = shares };
        }
        string why = Options.Denoiser != DenoiserKind.Auto ? $"{nameof(Options.Denoiser)} asks for it"
            : declared is null ? $"a plain vector; set {shapeOption} to (channels, height, width) for images"
            : shape.Length == 3 ? "an image shape" : "not an image shape";
        log.LogInformation("Column '{Column}' is shaped [{Shape}] (from {Source}): the {Kind} denoiser ({Why})", column, string.Join(", ", shape),
            ColumnReader.Describe(source, shapeOption), denoiser.Kind, why);
        var settings = new DiffusionTrainingSettings
        {
            Epochs = Options.Epochs, LabelDropout = Options.LabelDropout, EmaDecay = Options.EmaDecay,
            Loss = new DiffusionLoss(Options.Loss, Options.LossWeighting, Options.MinSnrGamma),
            ValidationFraction = Options.ValidationFraction, AutoguidanceEpochs = Options.AutoguidanceEpochs,
            Standardise = Options.Standardization switch
            {
                DataStandardization.Auto => !ColumnReader.IsNormalized(input.Schema[column]),
                var s => s == DataStandardization.PerChannel,
            },
        };
        var (model, _) = DiffusionTraining.Fit(config, samples, settings, Options.Run(log));
        return new LatentDiffusionTransformer(model, new LatentDiffusionTransformer.Settings
        {
            LabelColumn = Options.LabelColumnName, SeedColumn = Options.SeedColumnName, OutputColumn = Options.OutputColumnName, Seed = Options.Seed,
            Sampling = Options.Sampling.Clone(),
        });
    }

    /// <inheritdoc/>
    public override SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ComponentSupport.RequireFloatVectorShape(inputSchema, Options.InputColumnName, "data to learn");
        if (Options.LabelColumnName is not null) ComponentSupport.RequireIntegerShape(inputSchema, Options.LabelColumnName, "class labels");
        ComponentSupport.OptionalIntegerShape(inputSchema, Options.SeedColumnName, "request seeds");
        var shape = Options.DataShape ?? [1];
        return ComponentSupport.Append(inputSchema, [LatentDiffusionTransformer.OutputColumn(Options.OutputColumnName, shape)]);
    }
}
