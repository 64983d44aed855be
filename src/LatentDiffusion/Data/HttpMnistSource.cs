using System.IO.Compression;
using LatentDiffusion.IO;

namespace LatentDiffusion.Data;

/// <summary>Downloads the gzip-compressed files from a base address (the canonical MNIST mirrors).</summary>
public sealed class HttpMnistSource : IMnistSource
{
    /// <summary>Creates a source for <paramref name="baseAddress"/>, under which <c>NAME.gz</c> is fetched.</summary>
    public HttpMnistSource(string baseAddress) => BaseAddress = baseAddress.TrimEnd('/') + "/";

    /// <summary>The address the file names are appended to.</summary>
    public string BaseAddress { get; }

    /// <summary>How long one file may take.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>How long connecting may take.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <inheritdoc/>
    public string Name => BaseAddress;

    /// <inheritdoc/>
    public void Fetch(IReadOnlyList<string> fileNames, string directory, CancellationToken cancellationToken)
    {
        using var handler = new SocketsHttpHandler { ConnectTimeout = ConnectTimeout };
        using var http = new HttpClient(handler) { Timeout = Timeout };
        foreach (var name in fileNames)
        {
            using var response = http.GetAsync(BaseAddress + name + ".gz", HttpCompletionOption.ResponseHeadersRead, cancellationToken)
                .GetAwaiter().GetResult();
            response.EnsureSuccessStatusCode();
            using var body = response.Content.ReadAsStream(cancellationToken);
            using var gzip = new GZipStream(body, CompressionMode.Decompress);
            AtomicFile.Write(Path.Combine(directory, name), s => gzip.CopyTo(s));
        }
    }
}
