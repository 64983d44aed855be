using System.IO.Compression;
using System.Text.Json.Nodes;
using LatentDiffusion.Data;
using LatentDiffusion.MLNet.Autoencoder;
using LatentDiffusion.MLNet.Evaluation;
using LatentDiffusion.Models;
using LatentDiffusion.Models.Classifier;
using Microsoft.ML;
using Microsoft.ML.Data;
using static TorchSharp.torch;

namespace LatentDiffusion.Tests.Metrics;

/// <summary>The FID instrument: the normalised network is the default, old files keep the network they were saved with, augmentation is per image and repeatable.</summary>
[Trait("Data", "MNIST")]
public class FidInstrumentTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("ld-instrument-").FullName;
    private readonly MLContext ml = new(1);

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private MLContext Fresh()
    {
        var context = new MLContext(1);
        context.ComponentCatalog.RegisterLatentDiffusion();
        return context;
    }

    [Fact]
    public void The_default_classifier_is_the_normalised_network_and_survives_a_round_trip_with_its_batch_statistics()
    {
        var train = ml.Data.TakeRows(ml.Data.LoadMnist(MnistSplit.Train), 256);
        var test = ml.Data.TakeRows(ml.Data.LoadMnist(MnistSplit.Test), 64);
        var evaluator = ml.Transforms.FidEvaluator(new FidEvaluatorOptions { Epochs = 1, BatchSize = 32 }).Fit(train);
        Assert.Equal(FidClassifierKind.Normalized, evaluator.ClassifierKind);

        string path = Path.Combine(folder, "normalized.zip");
        ml.Model.Save(evaluator, train.Schema, path);
        var loaded = (FidEvaluatorTransformer)Fresh().Model.Load(path, out _);
        Assert.Equal(FidClassifierKind.Normalized, loaded.ClassifierKind);
        // Evaluation uses the running batch statistics, which are saved with the weights: the features match exactly.
        Assert.Equal(evaluator.Transform(test).GetColumn<float[]>("Features").ToArray(), loaded.Transform(test).GetColumn<float[]>("Features").ToArray());
    }

    [Fact]
    public void Recalibration_sets_each_batch_norm_layer_to_the_average_of_its_batch_statistics_and_marks_the_instrument_version_2()
    {
        var config = new ClassifierConfig { Kind = FidClassifierKind.Normalized };
        using var network = FeatureClassifier.Create(config, CPU);
        manual_seed(5);
        using var images = rand(2500, 784);
        Assert.Equal(4, ClassifierTraining.RecalibrateBatchNorm(network, images));
        // The first layer's input is the first convolution's output: its per-channel mean over each batch of 1000, averaged over the batches.
        var conv1 = (TorchSharp.Modules.Conv2d)network.named_children().Single(c => c.name == "conv1").module;
        var norm1 = (TorchSharp.Modules.BatchNorm2d)network.named_children().Single(c => c.name == "norm1").module;
        using (no_grad())
        {
            var batchMeans = new[] { (0, 1000), (1000, 1000), (2000, 500) }
                .Select(b => conv1.forward(images.narrow(0, b.Item1, b.Item2).view(-1, 1, 28, 28)).mean([0, 2, 3])).ToArray();
            var expected = stack(batchMeans).mean([0]);
            Assert.True(norm1.running_mean!.allclose(expected, rtol: 1e-4, atol: 1e-6), "running mean is not the average of the batch means");
        }

        var train = ml.Data.TakeRows(ml.Data.LoadMnist(MnistSplit.Train), 128);
        var lines = new List<string>();
        var evaluator = ml.Transforms.FidEvaluator(new FidEvaluatorOptions { Epochs = 1, BatchSize = 32, Logger = new ListLogger(lines) }).Fit(train);
        Assert.Equal(2, evaluator.InstrumentVersion);
        Assert.Contains(lines, l => l.Contains("Batch-norm statistics of 4 layers recalibrated"));
        // A file written before keeps its statistics and says it is the first version.
        var old = (FidEvaluatorTransformer)Fresh().Model.Load(Path.Combine(AppContext.BaseDirectory, "Fixtures", "classifier-v1.zip"), out _);
        Assert.Equal(1, old.InstrumentVersion);
    }

    [Fact]
    public void The_classifier_logs_no_validation_figure_because_it_holds_no_validation_split_back()
    {
        var lines = new List<string>();
        var log = new ListLogger(lines);
        var train = ml.Data.TakeRows(ml.Data.LoadMnist(MnistSplit.Train), 128);
        ml.Transforms.FidEvaluator(new FidEvaluatorOptions { Epochs = 1, BatchSize = 32, Logger = log }).Fit(train);
        ml.Transforms.EncodeToLatent(new VaeEncoderOptions { Epochs = 1, Width = 8, BatchSize = 32, Logger = log }).Fit(train);
        var epochs = lines.Where(l => l.Contains(" epoch 1/1")).ToList();
        Assert.Equal(2, epochs.Count);
        Assert.DoesNotContain("validation", epochs[0]);
        Assert.DoesNotContain("NaN", epochs[0]);
        Assert.Contains("validation", epochs[1]);
    }

    [Fact]
    public void A_file_that_names_no_network_reads_as_the_small_one_it_was_saved_with()
    {
        var train = ml.Data.TakeRows(ml.Data.LoadMnist(MnistSplit.Train), 256);
        var test = ml.Data.TakeRows(ml.Data.LoadMnist(MnistSplit.Test), 64);
        var small = ml.Transforms.FidEvaluator(new FidEvaluatorOptions { Classifier = FidClassifierKind.Small, Epochs = 1, BatchSize = 32 }).Fit(train);
        string path = Path.Combine(folder, "small.zip");
        ml.Model.Save(small, train.Schema, path);

        // Remove the kind, as in files written before it existed.
        int removed = 0;
        using (var archive = ZipFile.Open(path, ZipArchiveMode.Update))
        {
            var entry = archive.Entries.Single(e => e.FullName.EndsWith("Config.json"));
            JsonNode root;
            using (var s = entry.Open()) root = JsonNode.Parse(s)!;
            void Strip(JsonNode? node)
            {
                if (node is JsonObject o)
                {
                    foreach (var key in o.Select(p => p.Key).Where(k => k.Equals("kind", StringComparison.OrdinalIgnoreCase)).ToList()) { o.Remove(key); removed++; }
                    foreach (var child in o.Select(p => p.Value).ToList()) Strip(child);
                }
            }
            Strip(root);
            string name = entry.FullName;
            entry.Delete();
            using var w = archive.CreateEntry(name).Open();
            w.Write(System.Text.Encoding.UTF8.GetBytes(root.ToJsonString()));
        }
        Assert.Equal(1, removed);

        var loaded = (FidEvaluatorTransformer)Fresh().Model.Load(path, out _);
        Assert.Equal(FidClassifierKind.Small, loaded.ClassifierKind);
        Assert.Equal(small.Transform(test).GetColumn<float[]>("Features").ToArray(), loaded.Transform(test).GetColumn<float[]>("Features").ToArray());
    }

    [Fact]
    public void Augmentation_moves_each_image_its_own_way_keeps_its_ink_and_repeats_with_the_same_seed()
    {
        var digit = ml.Data.TakeRows(ml.Data.LoadMnist(MnistSplit.Train), 1).GetColumn<float[]>("Image").Single();
        using var scope = NewDisposeScope();
        var batch = tensor(Enumerable.Repeat(digit, 16).SelectMany(v => v).ToArray(), [16, 784]);
        var augmentation = new ClassifierAugmentation();
        Tensor Run(ulong seed) { using var g = new Generator(seed, CPU); return augmentation.Apply(batch, [1, 28, 28], g); }

        var a = Run(7);
        Assert.Equal(new long[] { 16, 784 }, a.shape);
        Assert.True(a.isfinite().all().item<bool>());
        Assert.Equal(a.data<float>().ToArray(), Run(7).data<float>().ToArray());
        Assert.NotEqual(a.data<float>().ToArray(), Run(8).data<float>().ToArray());
        // Every copy differs from the others and from the original, and keeps most of its ink (scale within 10%, shift within 2 pixels).
        var rows = Enumerable.Range(0, 16).Select(i => a[i].data<float>().ToArray()).ToArray();
        Assert.Equal(16, rows.Select(r => string.Join(",", r.Select(v => v.ToString("F3")))).Distinct().Count());
        double ink = digit.Sum();
        Assert.All(rows, r => Assert.InRange(r.Sum() / ink, 0.75, 1.25));
        Assert.All(rows, r => Assert.InRange(r.Max(), 0, 1.0001));
    }

    [Fact]
    public void The_normalised_network_counts_its_weights_without_allocating_and_refuses_an_unknown_kind()
    {
        long small = ClassifierModel.ParameterCount(new ClassifierConfig { Kind = FidClassifierKind.Small });
        long normalized = ClassifierModel.ParameterCount(new ClassifierConfig { Kind = FidClassifierKind.Normalized });
        Assert.True(small > 0 && normalized > 0 && small != normalized);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => ClassifierModel.Validate(new ClassifierConfig { Kind = (FidClassifierKind)7 }, "a file"));
        Assert.Equal("Kind", e.ParamName);
    }
}
