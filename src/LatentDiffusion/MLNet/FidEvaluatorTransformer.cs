using LatentDiffusion.Metrics;
using LatentDiffusion.MLNet.Persistence;
using LatentDiffusion.Models;
using LatentDiffusion.Training;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace LatentDiffusion.MLNet;

/// <summary>The fitted FID classifier: adds features, predicted label and class scores; evaluates generators.</summary>
public sealed class FidEvaluatorTransformer : BatchTransformer
{
    /// <summary>What is saved besides the weights (the <c>Config.json</c> block; see <see cref="ComponentFormats"/>).</summary>
    internal sealed record Settings
    {
        public string ImageColumn { get; init; } = "Image";
        public string FeaturesColumn { get; init; } = "Features";
        public string PredictedLabelColumn { get; init; } = "PredictedLabel";
        public string ScoreColumn { get; init; } = "Score";
        public ClassifierConfig Classifier { get; init; } = new();
        public EpochRecord[] History { get; init; } = [];
    }

    private const string WeightsStream = "Classifier.weights";
    private readonly ClassifierModel model;
    private readonly Settings settings;

    internal FidEvaluatorTransformer(ClassifierModel model, Settings settings)
    {
        foreach (var (column, name) in new[] { (settings.ImageColumn, nameof(settings.ImageColumn)), (settings.FeaturesColumn, nameof(settings.FeaturesColumn)),
            (settings.PredictedLabelColumn, nameof(settings.PredictedLabelColumn)), (settings.ScoreColumn, nameof(settings.ScoreColumn)) })
            OptionChecks.ColumnName(column, name, nameof(FidEvaluatorTransformer));
        this.model = model;
        this.settings = settings with { Classifier = model.Config };
        History = new TrainingHistory(settings.History);
    }

    /// <summary>Image shape: channels, height, width.</summary>
    public IReadOnlyList<int> ImageShape => model.Config.ImageShape;
    /// <summary>Floats per image.</summary>
    public int ImageSize => model.Config.ImageSize;
    /// <summary>Number of classes.</summary>
    public int Classes => model.Config.Classes;
    /// <summary>The image column read.</summary>
    public string ImageColumnName => settings.ImageColumn;
    /// <summary>The features column written.</summary>
    public string FeaturesColumnName => settings.FeaturesColumn;
    /// <summary>The predicted-label column written.</summary>
    public string PredictedLabelColumnName => settings.PredictedLabelColumn;
    /// <summary>The score column written.</summary>
    public string ScoreColumnName => settings.ScoreColumn;
    /// <summary>Per-epoch training losses.</summary>
    public TrainingHistory History { get; }
    /// <summary>Feature size.</summary>
    public int FeatureSize => FeatureClassifier.FeatureSize;
    /// <summary>The network behind the features (files saved before the kinds existed read as <see cref="FidClassifierKind.Small"/>).</summary>
    public FidClassifierKind ClassifierKind => model.Config.Kind;
    /// <summary>
    /// The instrument's version: 2 when its batch-norm statistics were recomputed on the plain training images after
    /// training (every classifier trained since issue 26), 1 for files written before, which keep their statistics.
    /// Figures are comparable only between instruments of one version (and one file).
    /// </summary>
    public int InstrumentVersion => model.Config.BatchNormRecalibrated ? 2 : 1;

    internal static OutputColumn[] OutputColumns(string features, string predicted, string score, int classes) =>
        [new(features, FeatureClassifier.FeatureSize), new(predicted, 0), new(score, classes)];

    private protected override BatchMapper CreateMapper() => CreateMapper(ImageColumnName);

    private ImageColumnMapper CreateMapper(string imageColumn) => new(imageColumn, ImageSize, "images to classify", 512,
        OutputColumns(FeaturesColumnName, PredictedLabelColumnName, ScoreColumnName, Classes), (images, rows, _, vectors, scalars) =>
        {
            var (features, probabilities, predicted) = model.Run(images, rows);
            features.CopyTo(vectors[0], 0);
            predicted.CopyTo(scalars[1], 0);
            probabilities.CopyTo(vectors[2], 0);
        });

    /// <summary>Features, predictions and carried labels of every row of <paramref name="data"/>.</summary>
    /// <param name="data">Images to score.</param>
    /// <param name="imageColumn">Their column (default: the column this classifier was trained on).</param>
    /// <param name="labelColumn">Optional integer column with the label each row asked for (or its true label); -1 = none.</param>
    public FeatureSet ComputeFeatures(IDataView data, string? imageColumn = null, string? labelColumn = null)
    {
        var view = new BatchMappedDataView(data, CreateMapper(imageColumn ?? ImageColumnName));
        int inputs = data.Schema.Count;
        var featuresColumn = view.Schema[inputs];
        var predictedColumn = view.Schema[inputs + 1];
        DataViewSchema.Column? labelCol = null;
        if (labelColumn is not null)
        {
            ColumnReader.RequireInteger(data.Schema, labelColumn, "requested labels");
            labelCol = view.Schema[data.Schema[labelColumn].Index];
        }
        var features = new List<float>();
        var predicted = new List<int>();
        var requested = labelCol is null ? null : new List<int>();
        using var cursor = view.GetRowCursor(labelCol is null ? [featuresColumn, predictedColumn] : [featuresColumn, predictedColumn, labelCol.Value]);
        var featureGetter = cursor.GetGetter<VBuffer<float>>(featuresColumn);
        var predictedGetter = cursor.GetGetter<int>(predictedColumn);
        var labelGetter = labelCol is null ? null : ColumnReader.IntegerGetter(cursor, labelCol.Value);
        VBuffer<float> f = default;
        int p = 0;
        while (cursor.MoveNext())
        {
            featureGetter(ref f);
            foreach (var v in f.DenseValues()) features.Add(v);
            predictedGetter(ref p);
            predicted.Add(p);
            if (labelGetter is not null)
            {
                long label = labelGetter();
                // A label the classifier cannot predict would count as a miss and make the accuracy meaningless.
                if (label >= Classes)
                    throw new ArgumentOutOfRangeException(labelColumn, label,
                        $"Column '{labelColumn}', row {predicted.Count - 1}: requested label {label} is not a class of this classifier "
                        + $"(0..{Classes - 1}; negative = no label).");
                requested!.Add((int)Math.Max(-1, label));
            }
        }
        if (predicted.Count == 0) throw new ArgumentException($"The view has no rows: column '{imageColumn ?? ImageColumnName}' needs at least 2 "
            + $"images to evaluate.", nameof(data));
        return new FeatureSet(features.ToArray(), predicted.ToArray(), requested?.ToArray(), FeatureSize);
    }

    /// <summary>Scores <paramref name="generated"/> against <paramref name="reference"/> (both from <see cref="ComputeFeatures"/>).</summary>
    public GeneratorMetrics Evaluate(FeatureSet generated, FeatureSet reference, int seed = 0)
    {
        if (generated.Count < 2 || reference.Count < 2)
            throw new ArgumentException($"FID needs at least 2 rows on each side; got {generated.Count} generated and {reference.Count} reference rows.");
        double fid = FrechetDistance.Compute(generated.Features, reference.Features, FeatureSize);
        var (kid, kidStd) = SampleQuality.KernelDistance(generated.Features, reference.Features, FeatureSize, seed: seed);
        var (precision, recall) = SampleQuality.PrecisionRecall(generated.Features, reference.Features, FeatureSize);
        return new GeneratorMetrics(fid, kid, kidStd, precision, recall, generated.Accuracy,
            SampleQuality.LabelEntropy(generated.PredictedLabels, Classes), generated.Count, reference.Count);
    }

    /// <summary>Scores a generator's output view against a reference view.</summary>
    /// <param name="generated">Generated images.</param>
    /// <param name="reference">Reference images (for example the MNIST test split).</param>
    /// <param name="generatedImageColumn">Image column of <paramref name="generated"/> (default: this classifier's image column).</param>
    /// <param name="requestedLabelColumn">Optional column of <paramref name="generated"/> with the label each row asked for.</param>
    /// <param name="referenceImageColumn">Image column of <paramref name="reference"/> (default: this classifier's image column).</param>
    public GeneratorMetrics Evaluate(IDataView generated, IDataView reference, string? generatedImageColumn = null,
        string? requestedLabelColumn = null, string? referenceImageColumn = null)
        => Evaluate(ComputeFeatures(generated, generatedImageColumn, requestedLabelColumn), ComputeFeatures(reference, referenceImageColumn));

    private protected override void Save(ModelSaveContext ctx) =>
        ComponentCodec.Save(ctx, ComponentFormats.FidEvaluator, settings with { History = [.. History.Epochs] }, [(WeightsStream, model.Network)]);

    private static FidEvaluatorTransformer Create(IHostEnvironment env, object ctx) => ComponentCodec.Load(env, ctx, ComponentFormats.FidEvaluator,
        LegacyFormats.ReadFidEvaluator, (streams, settings, device) => ComponentCodec.ReadModel<ClassifierConfig, ClassifierModel>(streams,
            settings.Classifier, device, (WeightsStream, ClassifierModel.ParameterCount, m => m.Network)),
        (model, settings) => new FidEvaluatorTransformer(model, settings));
}
