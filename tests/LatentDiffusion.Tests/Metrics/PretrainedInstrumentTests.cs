using System.Security.Cryptography;
using LatentDiffusion.MLNet.Evaluation;
using LatentDiffusion.Models;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace LatentDiffusion.Tests.Metrics;

/// <summary>
/// The ImageNet-pretrained instrument (<see cref="FidClassifierKind.PretrainedResNet18"/>): ML.NET's ResNet18 featurizer
/// on images of any shape, no training, no classes; it saves, loads and merges statistics like a trained one.
/// </summary>
public class PretrainedInstrumentTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("ld-pretrained-").FullName;
    private readonly MLContext ml = new(1);

    public void Dispose() => Directory.Delete(folder, recursive: true);

    public sealed class ColourRow
    {
        [VectorType(3, 20, 30)] public float[] Image { get; set; } = [];
        public int Label { get; set; }
    }

    /// <summary>Colour images: a smooth gradient per row, tinted red (kind 0) or with a bright square (kind 1), plus noise.</summary>
    private IDataView Images(int count, int kind, int seed)
    {
        var random = new Random(seed);
        return ml.Data.LoadFromEnumerable(Enumerable.Range(0, count).Select(_ =>
        {
            var image = new float[3 * 20 * 30];
            double phase = random.NextDouble();
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < 20; y++)
                    for (int x = 0; x < 30; x++)
                    {
                        double v = 0.5 + 0.4 * Math.Sin(phase * 6 + x / 5.0 + y / 7.0) + 0.05 * random.NextDouble();
                        if (kind == 0 && c == 0) v = 0.9;
                        if (kind == 1 && x is > 8 and < 20 && y is > 4 and < 14) v = 1;
                        image[c * 600 + y * 30 + x] = (float)Math.Clamp(v, 0, 1);
                    }
            return new ColourRow { Image = image, Label = kind };
        }).ToList());
    }

    [Fact]
    public void Pretrained_features_score_colour_images_without_training_and_survive_save_and_load()
    {
        var a = Images(24, 0, 1);
        var estimator = ml.Transforms.FidEvaluator(new FidEvaluatorOptions { Classifier = FidClassifierKind.PretrainedResNet18 });
        var instrument = estimator.Fit(a);
        Assert.Equal(512, instrument.FeatureSize);
        Assert.Equal(0, instrument.Classes);
        Assert.Equal([3, 20, 30], instrument.ImageShape);

        // The identity is the SHA-256 of the featurizer's model files, as the package copies them beside the app.
        string models = Path.Combine(AppContext.BaseDirectory, "DnnImageModels");
        var bytes = File.ReadAllBytes(Path.Combine(models, "ResNetPrepOnnx", "ResNetPreprocess.onnx"))
            .Concat(File.ReadAllBytes(Path.Combine(models, "ResNet18Onnx", "ResNet18.onnx"))).ToArray();
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(bytes)), instrument.InstrumentId);

        // Features only: no predicted label or scores, and the schema the estimator promised.
        var scored = instrument.Transform(a);
        Assert.Null(scored.Schema.GetColumnOrNull("PredictedLabel"));
        Assert.Equal(512, ((VectorDataViewType)scored.Schema["Features"].Type).Size);
        var features = scored.GetColumn<float[]>("Features").ToArray();
        Assert.All(features, f => Assert.All(f, v => Assert.True(float.IsFinite(v))));
        Assert.True(features.Select(f => f.Sum()).Distinct().Count() > 20, "the features should differ between images");

        string path = Path.Combine(folder, "pretrained.zip");
        ml.Model.Save(instrument, a.Schema, path);
        var fresh = new MLContext(2);
        fresh.ComponentCatalog.RegisterLatentDiffusion();
        var loaded = Assert.IsType<FidEvaluatorTransformer>(fresh.Model.Load(path, out _));
        Assert.Equal(FidClassifierKind.PretrainedResNet18, loaded.ClassifierKind);
        Assert.Equal(instrument.InstrumentId, loaded.InstrumentId);
        Assert.Equal(features, loaded.Transform(a).GetColumn<float[]>("Features").ToArray());

        // FID: the same kind of image is close, another kind far; statistics give the same FID and merge like a trained instrument's.
        var b = Images(24, 0, 2);
        var other = Images(24, 1, 3);
        double same = instrument.Evaluate(b, a).Fid, different = instrument.Evaluate(other, a).Fid;
        Assert.True(different > 3 * same, $"FID of another kind {different} should be well above the same kind's {same}");
        var reference = instrument.ComputeStatistics(a);
        var merged = instrument.ComputeStatistics(ml.Data.TakeRows(b, 10)).Merge(instrument.ComputeStatistics(ml.Data.SkipRows(b, 10), firstKey: 10));
        var fromStatistics = instrument.Evaluate(merged, reference);
        Assert.Equal(same, fromStatistics.Fid, 6);
        Assert.Null(fromStatistics.ConditionalAccuracy);
        Assert.True(double.IsNaN(fromStatistics.LabelEntropy));

        // There is no accuracy to measure: a label column is refused by name.
        var e = Assert.Throws<ArgumentException>(() => instrument.ComputeStatistics(b, labelColumn: "Label"));
        Assert.Contains("Column 'Label': the pretrained ResNet18 features predict no classes", e.Message);
    }

    public sealed class GreyRow
    {
        [VectorType(1, 28, 28)] public float[] Image { get; set; } = [];
    }

    [Fact]
    public void Grey_images_are_repeated_into_three_channels_and_other_channel_counts_are_refused()
    {
        var random = new Random(4);
        var grey = ml.Data.LoadFromEnumerable(Enumerable.Range(0, 4).Select(_ => new GreyRow
        {
            Image = Enumerable.Range(0, 784).Select(_ => (float)random.NextDouble()).ToArray(),
        }).ToList());
        var instrument = ml.Transforms.FidEvaluator(new FidEvaluatorOptions { Classifier = FidClassifierKind.PretrainedResNet18 }).Fit(grey);
        Assert.Equal(4, instrument.ComputeFeatures(grey).Count);

        var twoChannels = ml.Transforms.FidEvaluator(new FidEvaluatorOptions { Classifier = FidClassifierKind.PretrainedResNet18, ImageShape = [2, 14, 28] });
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => twoChannels.Fit(grey));
        Assert.Contains("need images of 1 or 3 channels", e.Message);
    }
}
