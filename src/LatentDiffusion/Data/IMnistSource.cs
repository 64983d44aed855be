
namespace LatentDiffusion.Data;

/// <summary>A place the four raw MNIST IDX files can be fetched from.</summary>
public interface IMnistSource
{
    /// <summary>A short name for messages.</summary>
    string Name { get; }

    /// <summary>Writes the named IDX files (uncompressed) into <paramref name="directory"/>; throws with a reason on failure.</summary>
    void Fetch(IReadOnlyList<string> fileNames, string directory, CancellationToken cancellationToken);
}
