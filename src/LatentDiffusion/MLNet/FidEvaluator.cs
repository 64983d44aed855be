using LatentDiffusion.Models;
using LatentDiffusion.Training;
using Microsoft.ML;

namespace LatentDiffusion.MLNet;

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
        this.options.Validate();
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
        ClassifierModel.Validate(config, $"the classifier for column '{options.ImageColumnName}'");
        var training = new ClassifierTrainingSettings { Epochs = options.Epochs, Augmentation = options.Augmentation ? new ClassifierAugmentation() : null };
        var (model, history) = ClassifierTraining.Fit(config, new TrainingData(images, labels, rows), training, options.Run(log));
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
