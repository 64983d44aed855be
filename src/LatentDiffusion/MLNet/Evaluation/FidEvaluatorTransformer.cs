using LatentDiffusion.Metrics;
using LatentDiffusion.MLNet.Formats;
using LatentDiffusion.MLNet.Persistence;
using LatentDiffusion.Models;
using LatentDiffusion.Models.Classifier;
using LatentDiffusion.Training;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace LatentDiffusion.MLNet.Evaluation;

/// <summary>
/// The fitted FID instrument: adds features, predicted label and class scores (features alone for the pretrained
/// ResNet18, which predicts no classes); evaluates generators.
/// </summary>
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
    private readonly IFeatureNetwork model;
    private readonly Settings settings;

    internal FidEvaluatorTransformer(IFeatureNetwork model, Settings settings)
    {
        foreach (var (column, name) in new[] { (settings.ImageColumn, nameof(settings.ImageColumn)), (settings.FeaturesColumn, nameof(settings.FeaturesColumn)),
            (settings.PredictedLabelColumn, nameof(settings.PredictedLabelColumn)), (settings.ScoreColumn, nameof(settings.ScoreColumn)) })
            OptionChecks.ColumnName(column, name, nameof(FidEvaluatorTransformer));
        this.model = model;
        this.settings = settings with { Classifier = model.Config };
        instrumentId = new Lazy<string>(model.Identity);
        History = new TrainingHistory(settings.History);
    }

    /// <summary>Image shape: channels, height, width.</summary>
    public IReadOnlyList<int> ImageShape => model.Config.ImageShape;
    /// <summary>Floats per image.</summary>
    public int ImageSize => model.Config.ImageSize;
    /// <summary>Number of classes (0 for the pretrained features, which predict none).</summary>
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
    /// <summary>Feature size (128 for a trained classifier, 512 for the pretrained ResNet18).</summary>
    public int FeatureSize => model.FeatureSize;
    /// <summary>The network behind the features (files saved before the kinds existed read as <see cref="FidClassifierKind.Small"/>).</summary>
    public FidClassifierKind ClassifierKind => model.Config.Kind;
    /// <summary>
    /// The instrument's version: 2 when its batch-norm statistics were recomputed on the plain training images after
    /// training (every classifier trained since issue 26), 1 for files written before, which keep their statistics.
    /// Figures are comparable only between instruments of one version (and one file).
    /// </summary>
    public int InstrumentVersion => model.Config.BatchNormRecalibrated ? 2 : 1;

    internal static OutputColumn[] OutputColumns(string features, string predicted, string score, int classes, int featureSize) =>
        classes == 0 ? [new(features, featureSize)] : [new(features, featureSize), new(predicted, 0), new(score, classes)];

    /// <inheritdoc/>
    protected override BatchMapper CreateMapper() => CreateMapper(ImageColumnName);

    private ImageColumnMapper CreateMapper(string imageColumn) => new(imageColumn, ImageSize, "images to classify", 512,
        OutputColumns(FeaturesColumnName, PredictedLabelColumnName, ScoreColumnName, Classes, FeatureSize), (images, rows, _, vectors, scalars) =>
        {
            var (features, probabilities, predicted) = model.Run(images, rows);
            features.CopyTo(vectors[0], 0);
            if (Classes == 0) return;
            predicted.CopyTo(scalars[1], 0);
            probabilities.CopyTo(vectors[2], 0);
        });

    /// <summary>Features, predictions and carried labels of every row of <paramref name="data"/>.</summary>
    /// <param name="data">Images to score.</param>
    /// <param name="imageColumn">Their column (default: the column this classifier was trained on).</param>
    /// <param name="labelColumn">Optional integer column with the label each row asked for (or its true label); -1 = none.</param>
    public FeatureSet ComputeFeatures(IDataView data, string? imageColumn = null, string? labelColumn = null)
    {
        var features = new List<float>();
        var predicted = new List<int>();
        var requested = labelColumn is null ? null : new List<int>();
        Scan(data, imageColumn, labelColumn, null, 0, (chunk, rows) =>
        {
            features.AddRange(chunk.Features.AsSpan(0, rows * FeatureSize));
            predicted.AddRange(chunk.Predicted.AsSpan(0, rows));
            requested?.AddRange(chunk.Requested.AsSpan(0, rows));
        });
        return new FeatureSet(features.ToArray(), Classes == 0 ? null : predicted.ToArray(), requested?.ToArray(), FeatureSize);
    }

    /// <summary>
    /// The statistics of every row of <paramref name="data"/> (see <see cref="FidStatistics"/>), streamed: any number of
    /// rows in the memory of one chunk. Shards of one set scored here merge into the set's statistics.
    /// </summary>
    /// <param name="data">Images to score.</param>
    /// <param name="imageColumn">Their column (default: the column this classifier was trained on).</param>
    /// <param name="labelColumn">Optional integer column with the label each row asked for; -1 = none.</param>
    /// <param name="keyColumn">
    /// Optional integer column of keys unique within the whole set (request seeds) that choose the rows of the bottom-k
    /// sample; without it a row's key is <paramref name="firstKey"/> plus its position.
    /// </param>
    /// <param name="firstKey">The key of the first row when there is no key column (a shard's offset in the set).</param>
    /// <param name="sampleLimit">Rows kept for KID and precision/recall.</param>
    public FidStatistics ComputeStatistics(IDataView data, string? imageColumn = null, string? labelColumn = null, string? keyColumn = null,
        long firstKey = 0, int sampleLimit = FidStatistics.DefaultSampleLimit)
    {
        var statistics = FidStatistics.Empty(InstrumentId, FeatureSize, Classes, sampleLimit);
        Scan(data, imageColumn, labelColumn, keyColumn, firstKey, (chunk, rows) => statistics.Add(chunk.Features.AsSpan(0, rows * FeatureSize), rows,
            Classes == 0 ? [] : chunk.Predicted.AsSpan(0, rows), labelColumn is null ? [] : chunk.Requested.AsSpan(0, rows), chunk.Keys.AsSpan(0, rows),
            keyColumn is null ? $"The row positions from {firstKey}" : $"Column '{keyColumn}' (sample keys)"));
        return statistics;
    }

    /// <summary>
    /// The instrument's identity: the SHA-256 of its weights (names, shapes and values), the same whether it was
    /// trained in this process or loaded from its file. Statistics of different instruments never mix.
    /// </summary>
    public string InstrumentId => instrumentId.Value;

    private readonly Lazy<string> instrumentId;

    private sealed record Chunk(float[] Features, int[] Predicted, int[] Requested, long[] Keys);

    /// <summary>Runs the classifier over every row and hands on chunks of features, predictions, carried labels and keys.</summary>
    private void Scan(IDataView data, string? imageColumn, string? labelColumn, string? keyColumn, long firstKey, Action<Chunk, int> take)
    {
        const int ChunkRows = 4096;
        var view = new BatchMappedDataView(data, CreateMapper(imageColumn ?? ImageColumnName));
        int inputs = data.Schema.Count;
        var featuresColumn = view.Schema[inputs];
        DataViewSchema.Column? predictedColumn = Classes == 0 ? null : view.Schema[inputs + 1];
        var columns = new List<DataViewSchema.Column> { featuresColumn };
        if (predictedColumn is { } p1) columns.Add(p1);
        if (labelColumn is not null && Classes == 0)
            throw new ArgumentException($"Column '{labelColumn}': the pretrained ResNet18 features predict no classes, so there is no accuracy to "
                + "measure; give no label column.", nameof(labelColumn));
        DataViewSchema.Column? Input(string? name, string purpose)
        {
            if (name is null) return null;
            ColumnReader.RequireInteger(data.Schema, name, purpose);
            columns.Add(view.Schema[data.Schema[name].Index]);
            return columns[^1];
        }
        var labelCol = Input(labelColumn, "requested labels");
        var keyCol = Input(keyColumn, "sample keys");
        using var cursor = view.GetRowCursor(columns);
        var featureGetter = cursor.GetGetter<VBuffer<float>>(featuresColumn);
        var predictedGetter = predictedColumn is { } p2 ? cursor.GetGetter<int>(p2) : null;
        var labelGetter = labelCol is null ? null : ColumnReader.IntegerGetter(cursor, labelCol.Value);
        var keyGetter = keyCol is null ? null : ColumnReader.IntegerGetter(cursor, keyCol.Value, bits: true);
        var chunk = new Chunk(new float[ChunkRows * FeatureSize], new int[ChunkRows], new int[ChunkRows], new long[ChunkRows]);
        VBuffer<float> f = default;
        int p = 0, filled = 0;
        long row = 0;
        while (cursor.MoveNext())
        {
            featureGetter(ref f);
            f.CopyTo(chunk.Features.AsSpan(filled * FeatureSize, FeatureSize));   // dense, with no copy per row
            if (predictedGetter is not null)
            {
                predictedGetter(ref p);
                chunk.Predicted[filled] = p;
            }
            if (labelGetter is not null)
            {
                long label = labelGetter();
                // A label the classifier cannot predict would count as a miss and make the accuracy meaningless.
                if (label >= Classes)
                    throw new ArgumentOutOfRangeException(labelColumn, label, $"Column '{labelColumn}', row {row}: requested label {label} is not "
                        + $"a class of this classifier (0..{Classes - 1}; negative = no label).");
                chunk.Requested[filled] = (int)Math.Max(-1, label);
            }
            chunk.Keys[filled] = keyGetter?.Invoke() ?? firstKey + row;
            row++;
            if (++filled == ChunkRows)
            {
                take(chunk, filled);
                filled = 0;
            }
        }
        if (filled > 0) take(chunk, filled);
        if (row == 0)
            throw new ArgumentException($"The view has no rows: column '{imageColumn ?? ImageColumnName}' needs at least 2 images to evaluate.", nameof(data));
    }

    /// <summary>
    /// Scores merged or single statistics against the reference's (both from <see cref="ComputeStatistics"/> of this
    /// instrument, or from files it wrote): FID from the moments, accuracy and label entropy from the histograms, KID and
    /// precision/recall on the two bottom-k samples.
    /// </summary>
    public GeneratorMetrics Evaluate(FidStatistics generated, FidStatistics reference, int seed = 0)
    {
        ArgumentNullException.ThrowIfNull(generated);
        ArgumentNullException.ThrowIfNull(reference);
        foreach (var (side, stats) in new[] { ("generated", generated), ("reference", reference) })
            if (stats.Instrument != InstrumentId)
                throw new ArgumentException($"The {side} statistics come from instrument {stats.Instrument}, not from this classifier ({InstrumentId}).");
        return Score(generated, reference, seed);
    }

    /// <summary>Scores statistics of one instrument without the classifier itself (a merge step needs only the files).</summary>
    public static GeneratorMetrics Score(FidStatistics generated, FidStatistics reference, int seed = 0)
    {
        ArgumentNullException.ThrowIfNull(generated);
        ArgumentNullException.ThrowIfNull(reference);
        if (generated.Count < 2 || reference.Count < 2)
            throw new ArgumentException($"FID needs at least 2 rows on each side; got {generated.Count} generated and {reference.Count} reference rows.");
        double fid = generated.FrechetDistanceTo(reference);
        float[] g = generated.SampleFeatures(), r = reference.SampleFeatures();
        var (kid, kidStd) = SampleQuality.KernelDistance(g, r, generated.FeatureSize, seed: seed);
        var (precision, recall) = SampleQuality.PrecisionRecall(g, r, generated.FeatureSize);
        return new GeneratorMetrics(fid, kid, kidStd, precision, recall, generated.Accuracy, generated.LabelEntropy,
            checked((int)generated.Count), checked((int)reference.Count));
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
            Classes == 0 ? double.NaN : SampleQuality.LabelEntropy(generated.PredictedLabels, Classes), generated.Count, reference.Count);
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

    /// <inheritdoc/>
    protected override void Save(ModelSaveContext ctx) =>
        WeightStreams.Save(ctx, ComponentFormats.FidEvaluator, settings with { History = [.. History.Epochs] },
            model is ClassifierModel trained ? [(WeightsStream, trained.Network)] : []);

    private static FidEvaluatorTransformer Create(IHostEnvironment env, object ctx) => WeightStreams.Load(env, ctx, ComponentFormats.FidEvaluator,
        (streams, device) =>
        {
            var (settings, model) = LegacyFormats.ReadFidEvaluator(streams, device);
            return (settings, (IFeatureNetwork)model);
        },
        (streams, settings, device) => settings.Classifier.Kind == FidClassifierKind.PretrainedResNet18
            ? new PretrainedFeatures([.. settings.Classifier.ImageShape])
            : WeightStreams.ReadModel<ClassifierConfig, ClassifierModel>(streams, settings.Classifier, device,
                (WeightsStream, ClassifierModel.ParameterCount, m => m.Network)),
        (model, settings) => new FidEvaluatorTransformer(model, settings));
}
