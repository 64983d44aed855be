using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using DigitServer;
using LatentDiffusion.MLNet.Generation;
using LatentDiffusion.Onnx;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.ML;
using Microsoft.ML.Data;
using Xunit.Abstractions;

namespace LatentDiffusion.Tests.Serving;

/// <summary>
/// The served generator (examples/DigitServer) on each engine, in memory: the model.zip fixture of the JSON era on
/// TorchSharp, and the same model exported to an ONNX folder on ONNX Runtime. Its images are the library's for the same
/// requests, bad input is a 400 with one sentence, 32 concurrent clients get the serial images from shared batches, and
/// a client that leaves before its turn costs nothing.
/// </summary>
public sealed class DigitServerTests(ITestOutputHelper output) : IDisposable
{
    /// <summary>
    /// Largest difference, in 8-bit levels, between an image generated alone and in a shared batch (of PNG pixels).
    /// The batch size changes the last bits of the network's arithmetic (README: about 1e-7 in float32); measured on this
    /// model, 63 of 64 images were identical and the other differed by one level in some pixels.
    /// </summary>
    private const int Tolerance = 1;

    private readonly string folder = Directory.CreateTempSubdirectory("ld-server-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    internal static string ModelFile => Path.Combine(AppContext.BaseDirectory, "Fixtures", "chain-v6.zip");

    internal static DigitGeneratorTransformer LoadModel()
    {
        var ml = new MLContext(seed: 1);
        ml.ComponentCatalog.RegisterLatentDiffusion();
        return (DigitGeneratorTransformer)((TransformerChain<ITransformer>)ml.Model.Load(ModelFile, out _)).LastTransformer;
    }

    /// <summary>The model file for <c>torchsharp</c>, or its export to a folder for <c>onnx</c>.</summary>
    private string PathFor(string engine)
    {
        if (engine == "torchsharp") return ModelFile;
        string onnx = Path.Combine(folder, "onnx");
        if (!Directory.Exists(onnx)) LoadModel().ExportOnnx(onnx);
        return onnx;
    }

    internal static WebApplicationFactory<Program> Factory(string path) =>
        new WebApplicationFactory<Program>().WithWebHostBuilder(b => b.UseSetting("Generator:Path", path).UseSetting("Logging:LogLevel:Default", "Warning"));

    /// <summary>The images of a /api/generate answer, as PNG bytes.</summary>
    private static async Task<byte[][]> Images(HttpClient client, string query, CancellationToken token = default)
    {
        var response = await client.GetAsync("/api/generate?" + query, token);
        string body = await response.Content.ReadAsStringAsync(token);
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        using var json = JsonDocument.Parse(body);
        return [.. json.RootElement.GetProperty("images").EnumerateArray().Select(i => Convert.FromBase64String(i.GetProperty("png").GetString()!))];
    }

    /// <summary>The 8-bit pixels of a PNG that <see cref="PngFile"/> wrote (one IDAT chunk, filter 0 on every line).</summary>
    internal static byte[] PngPixels(byte[] png)
    {
        var (width, height) = PngSize(png);
        int channels = png[25] == 0 ? 1 : 3, at = 8;
        using var data = new MemoryStream();
        while (at < png.Length)
        {
            int length = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(at));
            if (System.Text.Encoding.ASCII.GetString(png, at + 4, 4) == "IDAT") data.Write(png, at + 8, length);
            at += 12 + length;
        }
        data.Position = 0;
        using var inflated = new MemoryStream();
        using (var zlib = new System.IO.Compression.ZLibStream(data, System.IO.Compression.CompressionMode.Decompress)) zlib.CopyTo(inflated);
        byte[] raw = inflated.ToArray();
        int line = 1 + width * channels;
        return [.. Enumerable.Range(0, height).SelectMany(y => raw.Skip(y * line + 1).Take(line - 1))];
    }

    private static (int Width, int Height) PngSize(byte[] png)
    {
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], png[..4]);
        return (BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16)), BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20)));
    }

    [Theory]
    [InlineData("torchsharp")]
    [InlineData("onnx")]
    public async Task It_serves_the_libraries_images_a_grid_the_page_and_its_health(string engine)
    {
        await using var factory = Factory(PathFor(engine));
        using var client = factory.CreateClient();

        var health = await client.GetFromJsonAsync<JsonElement>("/health");
        Assert.Equal("ok", health.GetProperty("status").GetString());
        Assert.Equal(engine, health.GetProperty("engine").GetString());
        var info = await client.GetFromJsonAsync<JsonElement>("/api/info");
        Assert.Equal(10, info.GetProperty("classes").GetInt32());

        // The same requests through the library's own engine give the same PNG bytes.
        var served = await Images(client, "label=3&count=4&seed=5");
        float[] direct;
        var model = LoadModel();
        if (engine == "torchsharp") direct = model.Generate([3, 3, 3, 3], [5, 6, 7, 8]);
        else
        {
            using var onnx = OnnxGenerator.Load(PathFor(engine));
            direct = onnx.Generate([3, 3, 3, 3], [5, 6, 7, 8]);
        }
        for (int i = 0; i < 4; i++) Assert.Equal(PngFile.Encode(direct.AsSpan(i * 784, 784), [1, 28, 28]), served[i]);
        Assert.Equal((28, 28), PngSize(served[0]));

        // Another sampler and step count: what WithSampling gives.
        var ddim = await Images(client, "label=7&count=2&seed=1&sampler=ddim&steps=4");
        var sampling = model.Diffusion.Sampling;
        sampling.Sampler = new LatentDiffusion.Diffusion.Samplers.DdimSampler { Steps = 4 };
        float[] expected = engine == "torchsharp" ? model.WithSampling(sampling).Generate([7, 7], [1, 2]) : OnnxGenerate(engine, [7, 7], [1, 2], sampling);
        Assert.Equal(PngFile.Encode(expected.AsSpan(784, 784), [1, 28, 28]), ddim[1]);

        var grid = await client.GetAsync("/api/grid.png?label=1&count=16&seed=3");
        Assert.Equal("image/png", grid.Content.Headers.ContentType!.MediaType);
        Assert.Equal((118, 118), PngSize(await grid.Content.ReadAsByteArrayAsync()));   // 4 x 28 + 3 gaps of 2

        string page = await client.GetStringAsync("/");
        Assert.Contains("<form id=\"form\">", page);
        var counts = await client.GetFromJsonAsync<JsonElement>("/health");
        Assert.Equal(3, counts.GetProperty("requests").GetInt64());
        Assert.Equal(22, counts.GetProperty("images").GetInt64());
    }

    private float[] OnnxGenerate(string engine, int[] labels, long[] seeds, LatentDiffusion.Diffusion.SamplingOptions sampling)
    {
        using var onnx = OnnxGenerator.Load(PathFor(engine));
        return onnx.Generate(labels, seeds, sampling);
    }

    [Theory]
    [InlineData("label=10", "Parameter 'label' must be a digit class from 0 to 9, or -1 for any; got '10'.")]
    [InlineData("label=three", "Parameter 'label' must be a digit class from 0 to 9, or -1 for any; got 'three'.")]
    [InlineData("count=0", "Parameter 'count' must be from 1 to 64 images; got '0'.")]
    [InlineData("count=65", "Parameter 'count' must be from 1 to 64 images; got '65'.")]
    [InlineData("seed=-1", "Parameter 'seed' must be a whole number from 0; got '-1'.")]
    [InlineData("steps=201", "Parameter 'steps' must be from 1 to 200; got '201'.")]
    [InlineData("steps=2.5", "Parameter 'steps' must be from 1 to 200; got '2.5'.")]
    [InlineData("sampler=euler", "Parameter 'sampler' must be one of {samplers}; got 'euler'.")]   // every registered one (tests register more)
    [InlineData("count=2&count=3", "Parameter 'count' was given 2 times; give it once.")]
    public async Task Bad_input_is_a_400_with_one_sentence_naming_the_parameter(string query, string error)
    {
        await using var factory = Factory(ModelFile);
        using var client = factory.CreateClient();
        foreach (string route in new[] { "/api/generate?", "/api/grid.png?" })
        {
            var response = await client.GetAsync(route + query);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Equal(error.Replace("{samplers}", string.Join(", ", LatentDiffusion.Diffusion.Samplers.SamplerRegistry.Names)),
                (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetString());
        }
    }

    [Theory]
    [InlineData("torchsharp")]
    [InlineData("onnx")]
    public async Task Thirty_two_concurrent_clients_get_the_serial_images_from_shared_batches(string engine)
    {
        await using var factory = Factory(PathFor(engine));
        using var client = factory.CreateClient();
        string Query(int i) => $"label={i % 10}&count=2&seed={100 + 2 * i}&steps=5";
        var serial = new List<byte[][]>();
        for (int i = 0; i < 32; i++) serial.Add(await Images(client, Query(i)));
        var before = await client.GetFromJsonAsync<JsonElement>("/health");

        var concurrent = await Task.WhenAll(Enumerable.Range(0, 32).Select(i => Task.Run(() => Images(client, Query(i)))));
        var after = await client.GetFromJsonAsync<JsonElement>("/health");
        long batches = after.GetProperty("batches").GetInt64() - before.GetProperty("batches").GetInt64();
        Assert.Equal(64, after.GetProperty("requests").GetInt64());
        Assert.True(batches < 32, $"32 concurrent requests ran in {batches} engine calls: none were batched");
        int identical = 0, largest = 0;
        for (int i = 0; i < 32; i++)
            for (int k = 0; k < 2; k++)
            {
                byte[] a = PngPixels(serial[i][k]), b = PngPixels(concurrent[i][k]);
                identical += a.AsSpan().SequenceEqual(b) ? 1 : 0;
                largest = Math.Max(largest, a.Zip(b, (x, y) => Math.Abs(x - y)).Max());
            }
        output.WriteLine($"{identical} of 64 images identical to the serial ones; largest difference {largest} of 255");
        Assert.True(largest <= Tolerance, $"{identical} of 64 images identical to the serial ones; largest difference {largest} of 255 levels");
    }

    /// <summary>The real engine behind a gate the test opens: its first call waits until then.</summary>
    private sealed class GatedEngine(IDigitEngine inner) : IDigitEngine
    {
        public ManualResetEventSlim Entered { get; } = new();
        public ManualResetEventSlim Open { get; } = new();
        public string Name => inner.Name;
        public int Classes => inner.Classes;
        public IReadOnlyList<int> ImageShape => inner.ImageShape;
        public LatentDiffusion.Diffusion.SamplingOptions Sampling => inner.Sampling;
        public void Validate(LatentDiffusion.Diffusion.SamplingOptions sampling) => inner.Validate(sampling);
        public float[] Generate(int[] labels, long[] seeds, LatentDiffusion.Diffusion.SamplingOptions sampling)
        {
            Entered.Set();
            Assert.True(Open.Wait(TimeSpan.FromMinutes(2)), "the test never opened the gate");
            return inner.Generate(labels, seeds, sampling);
        }
        public void Dispose() => inner.Dispose();
    }

    [Fact]
    public async Task A_client_that_leaves_before_its_turn_is_never_run()
    {
        var gated = new GatedEngine(IDigitEngine.Open(ModelFile, null));
        await using var factory = Factory(ModelFile).WithWebHostBuilder(b => b.ConfigureTestServices(s => s.AddSingleton<IDigitEngine>(gated)));
        using var client = factory.CreateClient();
        // The first request holds the engine; the second waits behind it, and its client gives up.
        var first = Images(client, "label=1&count=8");
        Assert.True(gated.Entered.Wait(TimeSpan.FromMinutes(1)));
        using var leave = new CancellationTokenSource();
        var second = Images(client, "label=2&count=8&seed=9", leave.Token);
        await Task.Delay(200);
        leave.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => second);
        gated.Open.Set();
        Assert.Equal(8, (await first).Length);
        Assert.Single(await Images(client, "label=3&count=1"));
        var health = await client.GetFromJsonAsync<JsonElement>("/health");
        Assert.Equal(2, health.GetProperty("requests").GetInt64());
        Assert.Equal(9, health.GetProperty("images").GetInt64());
    }

    [Fact]
    public void A_missing_model_stops_the_server_with_one_line_and_exit_code_1()
    {
        var start = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "DigitServer.dll"), "--Generator:Path", "no-such-model.zip"])
        {
            RedirectStandardError = true, RedirectStandardOutput = true, WorkingDirectory = folder,
        };
        using var process = Process.Start(start)!;
        string errors = process.StandardError.ReadToEnd();
        process.StandardOutput.ReadToEnd();
        Assert.True(process.WaitForExit(60_000));
        Assert.Equal(1, process.ExitCode);
        Assert.Equal("DigitServer: Generator:Path 'no-such-model.zip' is neither a model file (model.zip) nor an exported ONNX folder.", errors.Trim());
    }
}
