using LatentDiffusion.MLNet.Estimators;
using LatentDiffusion.Models;
using LatentDiffusion.Models.Classifier;
using Microsoft.ML;
using Microsoft.ML.Runtime;

namespace LatentDiffusion.MLNet.Evaluation;

/// <summary>
/// Trains the FID feature classifier (a CNN whose 128-unit penultimate layer gives the features; by default with batch
/// normalisation and augmentation, or the reference MNIST FID network). The
/// fitted <see cref="FidEvaluatorTransformer"/> adds features, predicted label and scores to any view with a
/// matching image column, and scores generators with FID, KID, precision/recall, accuracy and label entropy.
/// </summary>
public sealed class FidEvaluator : TrainingEstimator<FidEvaluatorOptions, FidEvaluatorTransformer>
{

    /// <summary>Creates the estimator; prefer <c>mlContext.Transforms.FidEvaluator(...)</c>.</summary>
    public FidEvaluator(IHostEnvironment? context, FidEvaluatorOptions? options = null)
        : base(context, options)
    {
    }

    /// <inheritdoc/>
    public override FidEvaluatorTransformer Fit(IDataView input)
    {
        int size = ColumnReader.RequireFloatVector(input.Schema, Options.ImageColumnName, "images to classify");
        var shape = ColumnReader.ImageShape(input.Schema[Options.ImageColumnName], size, Options.ImageShape,
            $"{nameof(FidEvaluatorOptions)}.{nameof(Options.ImageShape)}");
        var settings = new FidEvaluatorTransformer.Settings
        {
            ImageColumn = Options.ImageColumnName, FeaturesColumn = Options.FeaturesColumnName, PredictedLabelColumn = Options.PredictedLabelColumnName,
            ScoreColumn = Options.ScoreColumnName,
        };
        if (Options.Classifier == FidClassifierKind.PretrainedResNet18)
        {
            // Nothing to train: the rows only tell the image shape.
            var pretrained = new PretrainedFeatures(shape);
            return new FidEvaluatorTransformer(pretrained, settings with { Classifier = pretrained.Config });
        }
        ColumnReader.RequireInteger(input.Schema, Options.LabelColumnName, "class labels");
        using var log = new ComponentLogger(Context, Options.Logger, nameof(FidEvaluator));
        var images = Options.ReadTrainingData(input, Options.ImageColumnName, size, Options.LabelColumnName, Options.Classes, "classifier", log);
        var config = new ClassifierConfig { Kind = Options.Classifier, ImageShape = shape, Classes = Options.Classes, BatchNormRecalibrated = true };
        ClassifierModel.Validate(config, $"the classifier for column '{Options.ImageColumnName}'");
        var training = new ClassifierTrainingSettings { Epochs = Options.Epochs, Augmentation = Options.Augmentation ? new ClassifierAugmentation() : null };
        var (model, history) = ClassifierTraining.Fit(config, images, training, Options.Run(log));
        return new FidEvaluatorTransformer(model, settings with { Classifier = config, History = [.. history.Epochs] });
    }

    /// <inheritdoc/>
    public override SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ComponentSupport.RequireFloatVectorShape(inputSchema, Options.ImageColumnName, "images to classify");
        bool pretrained = Options.Classifier == FidClassifierKind.PretrainedResNet18;
        if (!pretrained) ComponentSupport.RequireIntegerShape(inputSchema, Options.LabelColumnName, "class labels");
        return ComponentSupport.Append(inputSchema, FidEvaluatorTransformer.OutputColumns(Options.FeaturesColumnName, Options.PredictedLabelColumnName,
            Options.ScoreColumnName, pretrained ? 0 : Options.Classes, pretrained ? 512 : FeatureClassifier.FeatureSize));
    }
}
