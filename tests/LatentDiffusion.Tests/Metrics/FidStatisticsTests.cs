using LatentDiffusion.Metrics;
using LatentDiffusion.MLNet.Evaluation;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace LatentDiffusion.Tests.Metrics;

/// <summary>
/// FID statistics merge exactly (issue 28): the statistics of shards of a set, merged, score as the whole set does;
/// files from another instrument or damaged ones are refused in one sentence.
/// </summary>
public class FidStatisticsTests : IDisposable
{
    private readonly MLContext ml = new(1);
    private readonly string folder = Directory.CreateTempSubdirectory("ld-stats-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private sealed class Digit
    {
        public int Label { get; set; }
        public long Seed { get; set; }
        [VectorType(64)] public float[] Image { get; set; } = [];
    }

    private IDataView Digits(int count, int seed)
    {
        var random = new Random(seed);
        // Three classes of 8x8 images a small classifier can tell apart: a bright row band per class, plus noise.
        return ml.Data.LoadFromEnumerable(Enumerable.Range(0, count).Select(i => new Digit
        {
            Label = i % 3, Seed = 1_000_003L * seed + i,
            Image = Enumerable.Range(0, 64).Select(p => (float)(random.NextDouble() * 0.5 + (p / 8 / 3 == i % 3 ? 0.5 : 0))).ToArray(),
        }).ToList());   // drawn once: every cursor of the view reads the same images
    }

    private FidEvaluatorTransformer Instrument(int seed) =>
        ml.Transforms.FidEvaluator(new FidEvaluatorOptions { Epochs = 1, BatchSize = 32, Classes = 3, Seed = seed, Augmentation = false })
            .Fit(Digits(96, 7));

    [Fact]
    public void Shards_merged_score_as_the_whole_set_for_1_3_and_7_shards()
    {
        var fid = Instrument(1);
        const int rows = 700;
        var generated = Digits(rows, 2);
        var reference = fid.ComputeStatistics(Digits(500, 3), labelColumn: "Label");
        var whole = fid.ComputeStatistics(generated, labelColumn: "Label", keyColumn: "Seed", sampleLimit: 300);
        var single = FidEvaluatorTransformer.Score(whole, reference, seed: 4);
        Assert.Equal(rows, whole.Count);
        Assert.Equal(300, whole.SampleCount);
        Assert.InRange(single.Fid, 1e-6, 1e6);

        foreach (int shards in new[] { 1, 3, 7 })
        {
            var parts = Enumerable.Range(0, shards).Select(s =>
            {
                int start = rows * s / shards, end = rows * (s + 1) / shards;
                var shard = ml.Data.TakeRows(start == 0 ? generated : ml.Data.SkipRows(generated, start), end - start);
                return fid.ComputeStatistics(shard, labelColumn: "Label", keyColumn: "Seed", sampleLimit: 300);
            }).ToList();
            Assert.Equal(rows, parts.Sum(p => p.Count));
            foreach (var merged in new[] { FidStatistics.Merge(parts), FidStatistics.Merge(Enumerable.Reverse(parts)) })
            {
                var metrics = FidEvaluatorTransformer.Score(merged, reference, seed: 4);
                Assert.Equal(single.Fid, metrics.Fid, single.Fid * 1e-9);
                Assert.Equal(whole.PredictedHistogram, merged.PredictedHistogram);
                Assert.Equal(whole.RequestedHistogram, merged.RequestedHistogram);
                Assert.Equal(whole.RecognisedHistogram, merged.RecognisedHistogram);
                Assert.Equal(single.ConditionalAccuracy, metrics.ConditionalAccuracy);
                Assert.Equal(single.LabelEntropy, metrics.LabelEntropy);
                // The bottom-k sample is the same rows however the set was split: KID and precision/recall are equal too.
                Assert.Equal(whole.SampleFeatures(), merged.SampleFeatures());
                Assert.Equal((single.KidMean, single.Precision, single.Recall), (metrics.KidMean, metrics.Precision, metrics.Recall));
            }
        }
    }

    [Fact]
    public void Statistics_round_trip_through_their_file_and_a_damaged_or_foreign_one_is_refused_naming_it()
    {
        var fid = Instrument(1);
        var stats = fid.ComputeStatistics(Digits(40, 2), labelColumn: "Label", keyColumn: "Seed");
        string path = Path.Combine(folder, "shard.stats");
        stats.Save(path);
        var loaded = FidStatistics.Load(path);
        Assert.Equal((stats.Instrument, stats.Count, stats.SampleCount), (loaded.Instrument, loaded.Count, loaded.SampleCount));
        Assert.Equal(stats.PredictedHistogram, loaded.PredictedHistogram);
        Assert.Equal(stats.SampleFeatures(), loaded.SampleFeatures());
        var reference = fid.ComputeStatistics(Digits(40, 3));
        Assert.Equal(stats.FrechetDistanceTo(reference), loaded.FrechetDistanceTo(reference));

        var bytes = File.ReadAllBytes(path);
        bytes[bytes.Length / 2] ^= 0x40;
        string damaged = Path.Combine(folder, "damaged.stats");
        File.WriteAllBytes(damaged, bytes);
        var e = Assert.Throws<InvalidDataException>(() => FidStatistics.Load(damaged));
        Assert.Contains("damaged.stats", e.Message);
        Assert.Contains("checksum", e.Message);
        string text = Path.Combine(folder, "notes.stats");
        File.WriteAllText(text, "these are not statistics but they are long enough to be read as a file of some kind");
        Assert.Contains("notes.stats", Assert.Throws<InvalidDataException>(() => FidStatistics.Load(text)).Message);

        // Another instrument (other weights) refuses to mix, naming both.
        var other = Instrument(2);
        Assert.NotEqual(fid.InstrumentId, other.InstrumentId);
        var foreign = other.ComputeStatistics(Digits(40, 4), keyColumn: "Seed");
        var mix = Assert.Throws<ArgumentException>(() => loaded.Merge(foreign));
        Assert.Contains(fid.InstrumentId, mix.Message);
        Assert.Contains(other.InstrumentId, mix.Message);
        Assert.Throws<ArgumentException>(() => fid.Evaluate(foreign, reference));
        // The same rows counted twice are noticed through the sample.
        Assert.Contains("counted twice", Assert.Throws<ArgumentException>(() => loaded.Merge(loaded)).Message);
    }

    /// <summary>Rewrites a statistics file's JSON header and its checksum, as a careful editor would.</summary>
    private static void EditHeader(string path, Action<System.Text.Json.Nodes.JsonNode> edit)
    {
        var bytes = File.ReadAllBytes(path);
        using var r = new BinaryReader(new MemoryStream(bytes, 0, bytes.Length - 32));
        string magic = r.ReadString();
        int version = r.ReadInt32();
        var header = System.Text.Json.Nodes.JsonNode.Parse(r.ReadBytes(r.ReadInt32()))!;
        var rest = r.ReadBytes(bytes.Length - 32 - (int)r.BaseStream.Position);
        edit(header);
        var json = System.Text.Encoding.UTF8.GetBytes(header.ToJsonString());
        using var body = new MemoryStream();
        using (var w = new BinaryWriter(body, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            w.Write(magic);
            w.Write(version);
            w.Write(json.Length);
            w.Write(json);
            w.Write(rest);
        }
        File.WriteAllBytes(path, [.. body.ToArray(), .. System.Security.Cryptography.SHA256.HashData(body.ToArray())]);
    }

    [Theory]
    [InlineData(400, "counts 400 images, so its sample must hold 400 rows (at most 10000), but it holds 40")]
    [InlineData(-5, "counts -5 images; a count is at least 0")]
    public void A_header_count_that_disagrees_with_the_sample_is_refused_naming_it(long count, string expected)
    {
        var fid = Instrument(1);
        string path = Path.Combine(folder, "edited.stats");
        fid.ComputeStatistics(Digits(40, 2), labelColumn: "Label", keyColumn: "Seed").Save(path);
        EditHeader(path, h => h["Count"] = count);
        var refused = Assert.Throws<InvalidDataException>(() => FidStatistics.Load(path));
        Assert.Contains("edited.stats", refused.Message);
        Assert.Contains(expected, refused.Message);
    }

    [Fact]
    public void A_repeated_key_is_refused_naming_its_column_and_value()
    {
        var fid = Instrument(1);
        var repeated = ml.Data.LoadFromEnumerable(Enumerable.Range(0, 10).Select(i => new Digit
        {
            Label = i % 3, Seed = i == 7 ? 3 : i, Image = [.. Enumerable.Repeat(0.5f, 64)],
        }).ToList());
        var refused = Assert.Throws<ArgumentException>(() => fid.ComputeStatistics(repeated, keyColumn: "Seed"));
        Assert.Contains("Column 'Seed' (sample keys): two rows have the key 3", refused.Message);
    }

    [Fact]
    public void The_instrument_is_the_same_after_saving_and_loading_its_file()
    {
        var fid = Instrument(1);
        string path = Path.Combine(folder, "classifier.zip");
        ml.Model.Save(fid, null, path);
        var fresh = new MLContext(1);
        fresh.ComponentCatalog.RegisterLatentDiffusion();
        var loaded = (FidEvaluatorTransformer)fresh.Model.Load(path, out _);
        Assert.Equal(fid.InstrumentId, loaded.InstrumentId);
        Assert.Equal(64, fid.InstrumentId.Length);
    }
}
