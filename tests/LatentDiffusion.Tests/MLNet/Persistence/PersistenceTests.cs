using System.Diagnostics;
using System.IO.Compression;
using LatentDiffusion.Diffusion;
using LatentDiffusion.Diffusion.Samplers;
using LatentDiffusion.MLNet.Evaluation;
using LatentDiffusion.MLNet.Generation;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace LatentDiffusion.Tests.MLNet.Persistence;

[Trait("Data", "MNIST")]
public class PersistenceTests(TinyModels models) : IClassFixture<TinyModels>, IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("ld-persist-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private static MLContext FreshContext()
    {
        var ml = new MLContext(1);
        ml.ComponentCatalog.RegisterLatentDiffusion();
        return ml;
    }

    private string Save(ITransformer model, DataViewSchema schema, string name)
    {
        string path = Path.Combine(folder, name);
        models.Context.Model.Save(model, schema, path);
        return path;
    }

    [Fact]
    public void Each_transformer_alone_round_trips_with_identical_outputs()
    {
        var vaePath = Save(models.Vae, models.Train.Schema, "vae.zip");
        var vae = FreshContext().Model.Load(vaePath, out _);
        Assert.Equal(models.Vae.Transform(models.Test).GetColumn<float[]>("Latent").ToArray(), vae.Transform(models.Test).GetColumn<float[]>("Latent").ToArray());

        var requests = models.Requests(12);
        var diffusionPath = Save(models.Diffusion, requests.Schema, "diffusion.zip");
        var diffusion = FreshContext().Model.Load(diffusionPath, out _);
        Assert.Equal(models.Diffusion.Transform(requests).GetColumn<float[]>("GeneratedLatent").ToArray(),
            diffusion.Transform(requests).GetColumn<float[]>("GeneratedLatent").ToArray());

        // Sampling settings travel with the model, the guidance band and the precision included.
        var guided = models.Generator.WithSampling(new SamplingOptions
        {
            Sampler = new DdimSampler { Steps = 6 }, GuidanceScale = 2, GuidanceMinNoise = 0.3, GuidanceMaxNoise = 0.7, BatchSize = 5, Precision = SamplingPrecision.BFloat16
        });
        var generatorPath = Save(guided, requests.Schema, "generator.zip");
        var generator = (DigitGeneratorTransformer)FreshContext().Model.Load(generatorPath, out _);
        Assert.Equivalent(guided.Diffusion.Sampling, generator.Diffusion.Sampling, strict: true);
        Assert.Equal(TinyModels.Images(guided.Transform(requests)), TinyModels.Images(generator.Transform(requests)));

        var evaluator = models.Context.Transforms.FidEvaluator(new FidEvaluatorOptions { Epochs = 1 }).Fit(models.Context.Data.TakeRows(models.Train, 200));
        var evaluatorPath = Save(evaluator, models.Train.Schema, "fid.zip");
        var loadedEvaluator = FreshContext().Model.Load(evaluatorPath, out _);
        Assert.Equal(evaluator.Transform(models.Test).GetColumn<float[]>("Features").ToArray(), loadedEvaluator.Transform(models.Test).GetColumn<float[]>("Features").ToArray());
    }

    [Fact]
    public void The_full_chain_round_trips_in_this_process_and_in_a_fresh_one()
    {
        var path = Save(models.Model, models.Train.Schema, "chain.zip");
        var loaded = (TransformerChain<ITransformer>)FreshContext().Model.Load(path, out var schema);
        Assert.Equal(3, loaded.Count());
        Assert.Equal("Image", schema[1].Name);
        var generator = (DigitGeneratorTransformer)loaded.LastTransformer;

        // The CLI's generate command samples with its own settings: 4 steps here, default batch size.
        var sampling = new SamplingOptions { Sampler = new DdimSampler { Steps = 4 } };
        var labels = Enumerable.Range(0, 6).Select(i => i % 10).ToArray();
        var seeds = Enumerable.Range(0, 6).Select(i => 5L * 1_000_003 + i).ToArray();
        var original = models.Generator.WithSampling(sampling).Generate(labels, seeds);
        Assert.Equal(original, generator.WithSampling(sampling).Generate(labels, seeds));

        string raw = Path.Combine(folder, "fresh.bin");
        var app = Path.Combine(AppContext.BaseDirectory, "MnistLatentDiffusion.dll");
        var start = new ProcessStartInfo("dotnet", ["exec", app, "generate", "--model", path, "--count", "6", "--steps", "4", "--seed", "5",
            "--png", Path.Combine(folder, "fresh.png"), "--raw", raw]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        string errors = process.StandardError.ReadToEnd();
        process.StandardOutput.ReadToEnd();
        Assert.True(process.WaitForExit(120_000), "the second process did not finish");
        Assert.True(process.ExitCode == 0, errors);
        var bytes = File.ReadAllBytes(raw);
        var fresh = new float[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, fresh, 0, bytes.Length);
        Assert.Equal(original, fresh);
    }

    [Fact]
    public void A_chain_mixing_standard_transforms_and_ours_round_trips()
    {
        // Requests with Int64 labels and Int32 seeds, converted by standard ML.NET transforms before our generator.
        var ml = models.Context;
        var rows = ml.Data.LoadFromEnumerable(Enumerable.Range(0, 8).Select(i => new LooseRequest { Digit = i % 10, Seed32 = 100 + i }));
        var pipeline = ml.Transforms.Conversion.ConvertType("Label", "Digit", DataKind.Int32)
            .Append(ml.Transforms.Conversion.ConvertType("Seed", "Seed32", DataKind.Int64))
            .Append(new TransformerEstimator(models.Generator));
        var model = pipeline.Fit(rows);
        var path = Save(model, rows.Schema, "mixed.zip");
        var loaded = FreshContext().Model.Load(path, out _);
        var o1 = TinyModels.Images(model.Transform(rows)); var o2 = TinyModels.Images(model.Transform(rows));
        var l1 = TinyModels.Images(loaded.Transform(rows)); var l2 = TinyModels.Images(loaded.Transform(rows));
        Assert.True(o1.Zip(o2).All(p => p.First.SequenceEqual(p.Second)), "original not repeatable");
        Assert.True(l1.Zip(l2).All(p => p.First.SequenceEqual(p.Second)), "loaded not repeatable");
        Assert.Equal(TinyModels.Images(model.Transform(rows)), TinyModels.Images(loaded.Transform(rows)));
    }

    [Fact]
    public void A_truncated_or_corrupted_zip_fails_with_a_clear_error()
    {
        var path = Save(models.Generator, models.Requests(1).Schema, "good.zip");
        var truncated = Path.Combine(folder, "truncated.zip");
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(truncated, bytes[..(bytes.Length / 2)]);
        Assert.ThrowsAny<Exception>(() => FreshContext().Model.Load(truncated, out _));

        // Flip bytes inside the weights: the checksum catches it.
        var corrupted = Path.Combine(folder, "corrupted.zip");
        File.Copy(path, corrupted);
        using (var zip = ZipFile.Open(corrupted, ZipArchiveMode.Update))
        {
            var entry = zip.Entries.Single(e => e.FullName.EndsWith("Denoiser.weights"));
            byte[] content;
            using (var s = entry.Open()) { using var m = new MemoryStream(); s.CopyTo(m); content = m.ToArray(); }
            content[content.Length / 2] ^= 0xFF;
            string name = entry.FullName;
            entry.Delete();
            using var w = zip.CreateEntry(name).Open();
            w.Write(content);
        }
        var e = Assert.ThrowsAny<Exception>(() => FreshContext().Model.Load(corrupted, out _));
        Assert.Contains("corrupt", Flatten(e));
    }

    [Fact]
    public void A_missing_weight_file_fails_naming_it()
    {
        var path = Save(models.Generator, models.Requests(1).Schema, "missing.zip");
        using (var zip = ZipFile.Open(path, ZipArchiveMode.Update))
            zip.Entries.Single(e => e.FullName.EndsWith("Vae.weights")).Delete();
        var e = Assert.ThrowsAny<Exception>(() => FreshContext().Model.Load(path, out _));
        Assert.Contains("Vae.weights", Flatten(e));
    }

    [Fact]
    public void A_model_saved_by_a_newer_format_version_is_refused()
    {
        var path = Save(models.Vae, models.Train.Schema, "newer.zip");
        using (var zip = ZipFile.Open(path, ZipArchiveMode.Update))
        {
            ZipArchiveEntry? entry = null;
            byte[] content = [];
            foreach (var candidate in zip.Entries.Where(e => e.FullName.EndsWith("Model.key")).ToList())
            {
                using var s = candidate.Open();
                using var m = new MemoryStream();
                s.CopyTo(m);
                if (m.ToArray().AsSpan().IndexOf("LDVAEENC"u8) >= 0) { entry = candidate; content = m.ToArray(); }
            }
            Assert.NotNull(entry);
            // ML.NET's header holds the 8-byte model signature followed by the written and readable versions.
            int at = content.AsSpan().IndexOf("LDVAEENC"u8);
            Assert.True(at >= 0);
            BitConverter.TryWriteBytes(content.AsSpan(at + 8), 99u);
            BitConverter.TryWriteBytes(content.AsSpan(at + 12), 99u);
            string name = entry.FullName;
            entry.Delete();
            using var w = zip.CreateEntry(name).Open();
            w.Write(content);
        }
        var e = Assert.ThrowsAny<Exception>(() => FreshContext().Model.Load(path, out _));
        Assert.Contains("VaeEncoderTransformer", Flatten(e));
    }

    [Fact]
    public void The_settings_block_is_json_and_a_field_missing_from_it_reads_as_its_default()
    {
        var guided = models.Generator.WithSampling(new SamplingOptions { Sampler = new DdimSampler { Steps = 4 }, GuidanceScale = 2, GuidanceMinNoise = 0.3, BatchSize = 5 });
        var path = Save(guided, models.Requests(1).Schema, "json.zip");
        string json = ReadEntry(path, "Config.json");
        var root = System.Text.Json.Nodes.JsonNode.Parse(json)!;
        Assert.Equal("UNet", root["model"]!["denoiser"]!["kind"]!.GetValue<string>());
        Assert.Equal([4, 7, 7], root["model"]!["denoiser"]!["dataShape"]!.AsArray().Select(n => n!.GetValue<int>()));
        Assert.Equal(0.3, root["sampling"]!["guidanceMinNoise"]!.GetValue<double>());

        // A file from before a setting existed: the field is absent, the default applies.
        root["sampling"]!.AsObject().Remove("guidanceMinNoise");
        WriteEntry(path, "Config.json", root.ToJsonString());
        var loaded = (DigitGeneratorTransformer)FreshContext().Model.Load(path, out _);
        Assert.Equal(0, loaded.Diffusion.Sampling.GuidanceMinNoise);
        Assert.Equal(2, loaded.Diffusion.Sampling.GuidanceScale);

        // A field this library does not know means the file is not ours: refused, naming the entry.
        root["sampling"]!.AsObject().Add("mystery", 1);
        WriteEntry(path, "Config.json", root.ToJsonString());
        var e = Assert.ThrowsAny<Exception>(() => FreshContext().Model.Load(path, out _));
        Assert.Contains("Config.json", Flatten(e));
        Assert.Contains("mystery", Flatten(e));
    }

    private static string ReadEntry(string zipPath, string suffix)
    {
        using var zip = ZipFile.OpenRead(zipPath);
        using var reader = new StreamReader(zip.Entries.Single(e => e.FullName.EndsWith(suffix)).Open());
        return reader.ReadToEnd();
    }

    private static void WriteEntry(string zipPath, string suffix, string text)
    {
        using var zip = ZipFile.Open(zipPath, ZipArchiveMode.Update);
        var entry = zip.Entries.Single(e => e.FullName.EndsWith(suffix));
        string name = entry.FullName;
        entry.Delete();
        using var writer = new StreamWriter(zip.CreateEntry(name).Open());
        writer.Write(text);
    }

    private static string Flatten(Exception e) => e.InnerException is null ? e.Message : e.Message + " | " + Flatten(e.InnerException);

    public sealed class LooseRequest
    {
        public long Digit { get; set; }
        public int Seed32 { get; set; }
    }

    /// <summary>Puts an already fitted transformer into an estimator chain.</summary>
    private sealed class TransformerEstimator(ITransformer transformer) : IEstimator<ITransformer>
    {
        public ITransformer Fit(IDataView input) => transformer;
        public SchemaShape GetOutputSchema(SchemaShape inputSchema) => inputSchema;
    }
}
