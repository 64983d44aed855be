using System.Security.Cryptography;
using System.Text.Json;
using LatentDiffusion.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace LatentDiffusion.Metrics;

/// <summary>
/// What FID and the label figures of a set of images need, in a form that merges exactly: the count, the float64 sum
/// and sum of outer products of the instrument's features, the histograms of predicted labels and of the labels asked
/// for (and how many of those the classifier recognised), and a bottom-k sample of the features for KID and
/// precision/recall. Shards of one set, scored anywhere by the same instrument, merge into the statistics of the whole
/// set: FID, accuracy and label entropy equal the single run's (FID up to the rounding of float64 sums), and the
/// bottom-k sample is the same rows whatever the split.
/// </summary>
/// <remarks>
/// <para>
/// The sample: every row has a key (its request seed, or its position in the set) hashed with SplitMix64; the sample
/// holds the <see cref="SampleLimit"/> rows with the smallest hashes. Merging keeps the smallest of both sides, so it is
/// associative and independent of how the rows were split. KID and precision/recall of statistics are computed on
/// that sample (all rows when the set has at most <see cref="SampleLimit"/>).
/// </para>
/// <para>*** Binary format *** (<see cref="Save"/>, version 1)</para>
/// <para>
/// "LDFIDSTATS" (length-prefixed UTF-8), int32 version, int32 length and UTF-8 JSON of the header (instrument,
/// featureSize, classes, count, sampleLimit, predicted, requested and recognised histograms, and the generator's
/// network passes per image when one was recorded), float64[featureSize]
/// sum, float64[featureSize^2] sum of outer products (row-major), int32 sample rows, then per sample row a uint64 hash
/// and float32[featureSize] features, and last the SHA-256 of everything before it.
/// </para>
/// </remarks>
public sealed class FidStatistics
{
    private const string Magic = "LDFIDSTATS";
    private const int Version = 1;

    /// <summary>Rows kept for KID and precision/recall unless told otherwise.</summary>
    public const int DefaultSampleLimit = 10_000;

    private readonly double[] sum, outer;
    private readonly long[] predicted, requested, recognised;
    private readonly List<(ulong Hash, float[] Features)> sample;

    private FidStatistics(string instrument, int featureSize, int classes, int sampleLimit, long count, double[] sum, double[] outer,
        long[] predicted, long[] requested, long[] recognised, List<(ulong, float[])> sample)
    {
        (Instrument, FeatureSize, Classes, SampleLimit, Count) = (instrument, featureSize, classes, sampleLimit, count);
        (this.sum, this.outer, this.predicted, this.requested, this.recognised, this.sample) = (sum, outer, predicted, requested, recognised, sample);
    }

    /// <summary>Empty statistics of an instrument: <paramref name="instrument"/> identifies it (a hash of its weights).</summary>
    public static FidStatistics Empty(string instrument, int featureSize, int classes, int sampleLimit = DefaultSampleLimit)
    {
        if (string.IsNullOrWhiteSpace(instrument)) throw new ArgumentException("The instrument must be named (a hash of its weights).", nameof(instrument));
        OptionChecks.InRange(featureSize, 1, 65_536, nameof(featureSize), nameof(FidStatistics));
        OptionChecks.InRange(classes, 0, 100_000, nameof(classes), nameof(FidStatistics));
        OptionChecks.InRange(sampleLimit, 2, 10_000_000, nameof(sampleLimit), nameof(FidStatistics));
        return new FidStatistics(instrument, featureSize, classes, sampleLimit, 0, new double[featureSize], new double[(long)featureSize * featureSize],
            new long[classes], new long[classes], new long[classes], []);
    }

    /// <summary>The instrument the features came from (the hash of its weights); statistics of two instruments never mix.</summary>
    public string Instrument { get; }
    /// <summary>Features per image.</summary>
    public int FeatureSize { get; }
    /// <summary>Classes the instrument predicts (0: features only, no histograms).</summary>
    public int Classes { get; }
    /// <summary>Rows kept for KID and precision/recall (the bottom-k sample's k).</summary>
    public int SampleLimit { get; }
    /// <summary>Images counted.</summary>
    public long Count { get; private set; }
    /// <summary>Rows in the bottom-k sample: min(<see cref="Count"/>, <see cref="SampleLimit"/>).</summary>
    public int SampleCount => sample.Count;
    /// <summary>How many images the instrument put in each class.</summary>
    public IReadOnlyList<long> PredictedHistogram => predicted;
    /// <summary>How many images asked for each class (images that asked for none are not counted).</summary>
    public IReadOnlyList<long> RequestedHistogram => requested;
    /// <summary>Of the images that asked for each class, how many the instrument put in it.</summary>
    public IReadOnlyList<long> RecognisedHistogram => recognised;

    /// <summary>
    /// Network passes the generator spent per image (guidance included), when the images came from a generator that
    /// said so (<see cref="RecordNetworkPasses"/>); carried through files and merges so a merged score reports it too.
    /// </summary>
    public int? NetworkPassesPerImage { get; private set; }

    /// <summary>Records the generator's network passes per image (at least 1) for the images these statistics count.</summary>
    public void RecordNetworkPasses(int passesPerImage)
    {
        OptionChecks.InRange(passesPerImage, 1, 1_000_000, nameof(passesPerImage), nameof(FidStatistics));
        NetworkPassesPerImage = passesPerImage;
    }

    /// <summary>Share of the images that asked for a class that the instrument put in it; null when none asked.</summary>
    public double? Accuracy => requested.Sum() is var asked and > 0 ? (double)recognised.Sum() / asked : null;

    /// <summary>Entropy (nats) of the predicted labels; ln(classes) when perfectly balanced.</summary>
    public double LabelEntropy => Classes == 0 ? double.NaN : SampleQuality.LabelEntropy(predicted);

    /// <summary>
    /// Adds <paramref name="rows"/> images: their features (row-major), the class the instrument predicted, the class
    /// each asked for (-1 = none; null when no image asked) and each row's key for the sample (its request seed, or
    /// its position in the whole set: unique within the set). <paramref name="keySource"/> says where the keys came from
    /// (for example "Column 'Seed'") in the message that refuses a repeated key.
    /// </summary>
    public void Add(ReadOnlySpan<float> features, int rows, ReadOnlySpan<int> predictedLabels, ReadOnlySpan<int> requestedLabels, ReadOnlySpan<long> keys,
        string keySource = "The sample keys")
    {
        if (features.Length != (long)rows * FeatureSize || predictedLabels.Length != (Classes == 0 ? 0 : rows) || keys.Length != rows
            || requestedLabels.Length is var r && r != 0 && r != rows)
            throw new ArgumentException($"Expected {rows} rows of {FeatureSize} features, predicted labels and keys (and requested labels or none); "
                + $"got {features.Length} values, {predictedLabels.Length} predictions, {requestedLabels.Length} requests and {keys.Length} keys.");
        for (int i = 0; i < features.Length; i++)
            if (!float.IsFinite(features[i]))
                throw new ArgumentOutOfRangeException(nameof(features), features[i], $"Feature {i % FeatureSize} of row {i / FeatureSize} is "
                    + $"{features[i]}; FID needs finite features.");
        if (Classes == 0 && requestedLabels.Length > 0)
            throw new ArgumentException("This instrument predicts no classes: give no requested labels.", nameof(requestedLabels));
        for (int row = 0; row < rows && Classes > 0; row++)
        {
            int p = predictedLabels[row];
            if (p < 0 || p >= Classes) throw new ArgumentOutOfRangeException(nameof(predictedLabels), p,
                $"Predicted label {p} is not one of the {Classes} classes.");
            predicted[p]++;
            if (requestedLabels.Length == 0 || requestedLabels[row] < 0) continue;
            int asked = requestedLabels[row];
            if (asked >= Classes) throw new ArgumentOutOfRangeException(nameof(requestedLabels), asked,
                $"Requested label {asked} is not one of the {Classes} classes.");
            requested[asked]++;
            if (asked == p) recognised[asked]++;
        }
        using (NewDisposeScope())
        {
            var x = tensor(features.ToArray(), [rows, FeatureSize]).to_type(float64);
            Accumulate(sum, x.sum(dim: 0L));
            Accumulate(outer, x.T.matmul(x).flatten());
        }
        for (int row = 0; row < rows; row++)
        {
            if (!Offer(Hash((ulong)keys[row]), features.Slice(row * FeatureSize, FeatureSize).ToArray()))
                throw new ArgumentException($"{keySource}: two rows have the key {keys[row]}; the keys must be unique within the set (a request "
                    + "seed repeated, or a row counted twice).", nameof(keys));
        }
        Count += rows;
    }

    private static void Accumulate(double[] target, Tensor values)
    {
        var add = values.contiguous().data<double>().ToArray();
        for (int i = 0; i < target.Length; i++) target[i] += add[i];
    }

    /// <summary>
    /// Keeps the row when its hash is among the <see cref="SampleLimit"/> smallest (ties cannot change the set: hashes
    /// of distinct keys differ). False when the sample already holds the hash: a key seen twice. (A repeated key whose
    /// hash falls outside the sample goes unnoticed; the sample is what the keys choose.)
    /// </summary>
    private bool Offer(ulong hash, float[] features)
    {
        if (sample.Count == SampleLimit && hash > sample[^1].Hash) return true;
        int at = sample.BinarySearch((hash, features), HashOrder.Instance);
        if (at >= 0) return false;
        sample.Insert(~at, (hash, features));
        if (sample.Count > SampleLimit) sample.RemoveAt(sample.Count - 1);
        return true;
    }

    private sealed class HashOrder : IComparer<(ulong Hash, float[] Features)>
    {
        public static readonly HashOrder Instance = new();
        public int Compare((ulong Hash, float[] Features) a, (ulong Hash, float[] Features) b) => a.Hash.CompareTo(b.Hash);
    }

    /// <summary>SplitMix64: a fixed bijection of the key, so the sample is the same on every machine.</summary>
    private static ulong Hash(ulong key)
    {
        ulong z = key + 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>
    /// The statistics of both sets together. Refused, naming both, when they come from different instruments or keep
    /// samples of different sizes.
    /// </summary>
    public FidStatistics Merge(FidStatistics other)
    {
        ArgumentNullException.ThrowIfNull(other);
        RequireSameInstrument(other, "merged");
        if (other.SampleLimit != SampleLimit)
            throw new ArgumentException($"These statistics keep samples of {SampleLimit} rows and the others of {other.SampleLimit}: merge only statistics "
                + "written with the same sample size.", nameof(other));
        var merged = Empty(Instrument, FeatureSize, Classes, SampleLimit);
        merged.NetworkPassesPerImage = MergedPasses(this, other);
        foreach (var part in new[] { this, other })
        {
            for (int i = 0; i < sum.Length; i++) merged.sum[i] += part.sum[i];
            for (int i = 0; i < outer.Length; i++) merged.outer[i] += part.outer[i];
            for (int c = 0; c < Classes; c++)
                (merged.predicted[c], merged.requested[c], merged.recognised[c]) =
                    (merged.predicted[c] + part.predicted[c], merged.requested[c] + part.requested[c], merged.recognised[c] + part.recognised[c]);
            foreach (var (hash, features) in part.sample)
                if (!merged.Offer(hash, features))
                    throw new ArgumentException($"The statistics merged share a sample key (hash {hash:x16}): a row was counted twice (a shard "
                        + "merged twice?), or two shards scored rows with the same keys (request seeds).", nameof(other));
            merged.Count += part.Count;
        }
        return merged;
    }

    /// <summary>
    /// The passes per image of two merged parts: the one both record (an empty part takes the other's); none when a
    /// counted part records none; refused when they differ, since the images were made by different settings.
    /// </summary>
    private static int? MergedPasses(FidStatistics a, FidStatistics b)
    {
        if (a.Count == 0) return b.NetworkPassesPerImage;
        if (b.Count == 0) return a.NetworkPassesPerImage;
        if (a.NetworkPassesPerImage is { } x && b.NetworkPassesPerImage is { } y && x != y)
            throw new ArgumentException($"These statistics count images made with {x} network passes each and the others with {y}: shards of one "
                + "set are sampled with the same settings.", nameof(b));
        return a.NetworkPassesPerImage == b.NetworkPassesPerImage ? a.NetworkPassesPerImage : null;
    }

    /// <summary>All the statistics merged, in order (the result does not depend on the order beyond float64 rounding).</summary>
    public static FidStatistics Merge(IEnumerable<FidStatistics> parts)
    {
        ArgumentNullException.ThrowIfNull(parts);
        FidStatistics? merged = null;
        foreach (var part in parts) merged = merged is null ? part.Merge(Empty(part.Instrument, part.FeatureSize, part.Classes,
            part.SampleLimit)) : merged.Merge(part);
        return merged ?? throw new ArgumentException("There are no statistics to merge.", nameof(parts));
    }

    private void RequireSameInstrument(FidStatistics other, string what)
    {
        if (other.Instrument != Instrument || other.FeatureSize != FeatureSize || other.Classes != Classes)
            throw new ArgumentException($"Statistics of different instruments cannot be {what}: instrument {Instrument} ({FeatureSize} features, "
                + $"{Classes} classes) against instrument {other.Instrument} ({other.FeatureSize} features, {other.Classes} classes). Score every "
                + "shard and the reference with the same classifier file.", nameof(other));
    }

    /// <summary>The features' mean [d] and unbiased covariance [d, d], as float64 tensors.</summary>
    internal (Tensor Mean, Tensor Covariance) Moments()
    {
        if (Count < 2) throw new InvalidOperationException($"FID needs statistics of at least 2 images; these hold {Count}.");
        // Explicit scalars: an operator's temporary one can be finalized while libtorch reads it (see SampleQuality).
        using Scalar n = Count, degrees = Count - 1;
        var mean = tensor(sum, [FeatureSize]).div(n);
        var cov = tensor(outer, [FeatureSize, FeatureSize]).sub(mean.outer(mean).mul(n)).div(degrees);
        return (mean, cov);
    }

    /// <summary>FID between these images and the <paramref name="reference"/> ones; refused when the instruments differ.</summary>
    public double FrechetDistanceTo(FidStatistics reference)
    {
        ArgumentNullException.ThrowIfNull(reference);
        RequireSameInstrument(reference, "compared");
        using var scope = NewDisposeScope();
        var (muA, covA) = Moments();
        var (muB, covB) = reference.Moments();
        return FrechetDistance.FromMoments(muA, covA, muB, covB);
    }

    /// <summary>The bottom-k sample's features, row-major, in hash order.</summary>
    public float[] SampleFeatures() => [.. sample.SelectMany(s => s.Features)];

    /// <summary>Writes the statistics (format in the remarks) atomically: readers see the old file or the whole new one.</summary>
    public void Save(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        using var body = new MemoryStream();
        using (var w = new BinaryWriter(body, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            w.Write(Magic);
            w.Write(Version);
            var header = JsonSerializer.SerializeToUtf8Bytes(new Header(Instrument, FeatureSize, Classes, Count, SampleLimit, predicted, requested,
                recognised, NetworkPassesPerImage));
            w.Write(header.Length);
            w.Write(header);
            foreach (var v in sum) w.Write(v);
            foreach (var v in outer) w.Write(v);
            w.Write(sample.Count);
            foreach (var (hash, features) in sample)
            {
                w.Write(hash);
                foreach (var f in features) w.Write(f);
            }
        }
        var hashBytes = SHA256.HashData(body.GetBuffer().AsSpan(0, (int)body.Length));
        AtomicFile.Write(path, s =>
        {
            s.Write(body.GetBuffer(), 0, (int)body.Length);
            s.Write(hashBytes);
        });
    }

    private sealed record Header(string Instrument, int FeatureSize, int Classes, long Count, int SampleLimit, long[] Predicted, long[] Requested,
        long[] Recognised, int? NetworkPassesPerImage = null);

    /// <summary>Reads statistics written by <see cref="Save"/>; a damaged or foreign file is refused in one sentence naming it.</summary>
    public static FidStatistics Load(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        byte[] bytes = File.ReadAllBytes(path);
        InvalidDataException Bad(string why) => new($"'{path}' is not usable FID statistics: {why}.");
        if (bytes.Length < 32 + Magic.Length) throw Bad($"it is {bytes.Length} bytes long");
        var body = bytes.AsSpan(0, bytes.Length - 32);
        try
        {
            using var r = new BinaryReader(new MemoryStream(bytes, 0, bytes.Length - 32));
            if (r.ReadString() != Magic) throw Bad("it does not start as a statistics file of this library");
            if (!SHA256.HashData(body).AsSpan().SequenceEqual(bytes.AsSpan(bytes.Length - 32))) throw Bad("it is truncated or damaged (checksum mismatch)");
            int version = r.ReadInt32();
            if (version != Version) throw Bad($"it has format version {version}; this library reads version {Version}");
            var header = JsonSerializer.Deserialize<Header>(r.ReadBytes(r.ReadInt32())) ?? throw Bad("its header is empty");
            if (header.Count < 0) throw Bad($"its header counts {header.Count} images; a count is at least 0");
            var stats = Empty(header.Instrument, header.FeatureSize, header.Classes, header.SampleLimit);
            if (header.Predicted.Length != stats.Classes || header.Requested.Length != stats.Classes || header.Recognised.Length != stats.Classes)
                throw Bad("its histograms do not have one count per class");
            for (int i = 0; i < stats.sum.Length; i++) stats.sum[i] = r.ReadDouble();
            for (int i = 0; i < stats.outer.Length; i++) stats.outer[i] = r.ReadDouble();
            header.Predicted.CopyTo(stats.predicted, 0);
            header.Requested.CopyTo(stats.requested, 0);
            header.Recognised.CopyTo(stats.recognised, 0);
            int rows = r.ReadInt32();
            // Every image was offered to the sample, which keeps the SampleLimit smallest keys: so it holds all of them
            // up to the limit, and a count that disagrees was edited.
            long expectedRows = Math.Min(header.Count, stats.SampleLimit);
            if (rows != expectedRows)
                throw Bad($"its header counts {header.Count} images, so its sample must hold {expectedRows} rows (at most {stats.SampleLimit}), but "
                    + $"it holds {rows}");
            for (int i = 0; i < rows; i++)
            {
                ulong hash = r.ReadUInt64();
                if (i > 0 && hash <= stats.sample[^1].Hash) throw Bad($"sample row {i} repeats a key or is out of order (hash {hash:x16})");
                var features = new float[stats.FeatureSize];
                for (int j = 0; j < features.Length; j++) features[j] = r.ReadSingle();
                stats.sample.Add((hash, features));
            }
            stats.Count = header.Count;
            if (header.NetworkPassesPerImage is { } passes)
            {
                if (passes < 1) throw Bad($"its header records {passes} network passes per image; at least 1");
                stats.NetworkPassesPerImage = passes;
            }
            return stats;
        }
        catch (Exception e) when (e is EndOfStreamException or JsonException or ArgumentException)
        {
            throw Bad($"it is malformed ({ErrorText.OneLine(e)})");
        }
    }
}
