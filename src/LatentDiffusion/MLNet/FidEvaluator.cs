using LatentDiffusion.Models;
using LatentDiffusion.Training;
using Microsoft.ML;

namespace LatentDiffusion.MLNet;

/// <summary>Options of <see cref="FidEvaluator"/>.</summary>
public sealed class FidEvaluatorOptions : TrainingOptions
{
    /// <summary>Image column: a known-size vector of Single in [0,1], channel-planar. Default "Image".</summary>
    public string ImageColumnName { get; set; } = "Image";
    /// <summary>
    /// The images' (channels, height, width); null reads it from the column's <see cref="ShapeAnnotation"/>, else takes
    /// a square one-channel image. Any sides: they are padded to a multiple of 4 inside.
    /// </summary>
    public int[]? ImageShape { get; set; }
    /// <summary>Integer label column used for training (0..Classes-1). Default "Label".</summary>
    public string LabelColumnName { get; set; } = "Label";
    /// <summary>Output: the 128 FID features. Default "Features".</summary>
    public string FeaturesColumnName { get; set; } = "Features";
    /// <summary>Output: predicted class (Int32). Default "PredictedLabel".</summary>
    public string PredictedLabelColumnName { get; set; } = "PredictedLabel";
    /// <summary>Output: class probabilities. Default "Score".</summary>
    public string ScoreColumnName { get; set; } = "Score";
    /// <summary>Number of classes. Default 10.</summary>
    public int Classes { get; set; } = 10;
    /// <summary>
    /// The network behind the features. Default <see cref="FidClassifierKind.Normalized"/> (batch normalisation; 99.5%+
    /// test accuracy on MNIST with the default epochs and augmentation). <see cref="FidClassifierKind.Small"/> is seed
    /// 000's network, which every classifier saved before this option existed uses. The normalised network evaluates
    /// with the batch statistics it gathered while training, which need on the order of a hundred optimiser steps to
    /// settle: for a few dozen steps (a tiny data set, one epoch) it classifies poorly; train longer or take Small.
    /// </summary>
    public FidClassifierKind Classifier { get; set; } = FidClassifierKind.Normalized;
    /// <summary>
    /// Vary every training image at every step by a small random shift (up to 2 pixels), rotation (up to 10 degrees)
    /// and change of size (up to 10%). Default true.
    /// </summary>
    public bool Augmentation { get; set; } = true;
    /// <summary>Training epochs. Default 6 (on MNIST's 60,000 digits: 99.57% test accuracy in under 5 minutes on 2 CPU cores).</summary>
    public int Epochs { get; set; } = 6;
}

/// <summary>
/// Trains the FID feature classifier (a CNN whose 128-unit penultimate layer gives the features; by default with batch
/// normalisation and augmentation, or the reference MNIST FID network). The
/// fitted <see cref="FidEvaluatorTransformer"/> adds features, predicted label and scores to any view with a
/// matching image column, and scores generators with FID, KID, precision/recall, accuracy and label entropy.
/// </summary>
public sealed class FidEvaluator : IEstimator<FidEvaluatorTransformer>
{
    private readonly MLContext? context;
    private readonly FidEvaluatorOptions options;

    /// <summary>Creates the estimator; prefer <c>mlContext.Transforms.FidEvaluator(...)</c>.</summary>
    public FidEvaluator(MLContext? context, FidEvaluatorOptions? options = null)
    {
        this.context = context;
        this.options = options ?? new FidEvaluatorOptions();
        var o = this.options;
        const string owner = nameof(FidEvaluatorOptions);
        OptionChecks.ColumnName(o.ImageColumnName, nameof(o.ImageColumnName), owner);
        OptionChecks.ColumnName(o.LabelColumnName, nameof(o.LabelColumnName), owner);
        OptionChecks.ColumnName(o.FeaturesColumnName, nameof(o.FeaturesColumnName), owner);
        OptionChecks.ColumnName(o.PredictedLabelColumnName, nameof(o.PredictedLabelColumnName), owner);
        OptionChecks.ColumnName(o.ScoreColumnName, nameof(o.ScoreColumnName), owner);
        OptionChecks.InRange(o.Classes, 2, 100_000, nameof(o.Classes), owner);
        OptionChecks.InRange(o.Epochs, 1, 1_000_000, nameof(o.Epochs), owner);
        OptionChecks.Defined(o.Classifier, nameof(o.Classifier), owner);
        o.ValidateShared(owner);
    }

    /// <inheritdoc/>
    public FidEvaluatorTransformer Fit(IDataView input)
    {
        int size = ColumnReader.RequireFloatVector(input.Schema, options.ImageColumnName, "images to classify");
        var shape = ColumnReader.ImageShape(input.Schema[options.ImageColumnName], size, options.ImageShape, $"{nameof(FidEvaluatorOptions)}.{nameof(options.ImageShape)}");
        ColumnReader.RequireInteger(input.Schema, options.LabelColumnName, "class labels");
        var (images, labels, rows) = ColumnReader.ReadAll(input, options.ImageColumnName, size, options.LabelColumnName, options.Classes, options.CancellationToken);

        using var log = new ComponentLogger(context, options.Logger, nameof(FidEvaluator));
        var config = new ClassifierConfig { Kind = options.Classifier, ImageShape = shape, Classes = options.Classes, BatchNormRecalibrated = true };
        var (model, history) = ClassifierTraining.Fit(config, images, labels!, rows, options.Epochs, options.Run(log),
            options.Augmentation ? new ClassifierAugmentation() : null);
        return new FidEvaluatorTransformer(model, new FidEvaluatorTransformer.Settings
        {
            ImageColumn = options.ImageColumnName, FeaturesColumn = options.FeaturesColumnName, PredictedLabelColumn = options.PredictedLabelColumnName,
            ScoreColumn = options.ScoreColumnName, Classifier = config, History = [.. history.Epochs],
        });
    }

    /// <inheritdoc/>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ComponentSupport.RequireFloatVectorShape(inputSchema, options.ImageColumnName, "images to classify");
        ComponentSupport.RequireIntegerShape(inputSchema, options.LabelColumnName, "class labels");
        return ComponentSupport.Append(inputSchema, FidEvaluatorTransformer.OutputColumns(options.FeaturesColumnName, options.PredictedLabelColumnName, options.ScoreColumnName, options.Classes));
    }
}
