using System.IO.Compression;
using System.Text.Json.Nodes;
using LatentDiffusion.MLNet;
using Microsoft.ML;
using static TorchSharp.torch;

namespace LatentDiffusion.Tests.MLNet.Persistence;

/// <summary>Model files are data: whatever a file holds, loading it either gives a working model or a <see cref="ModelFileException"/> that says what is wrong.</summary>
[Trait("Data", "MNIST")]
public class ModelFileTests(TinyModels models) : IClassFixture<TinyModels>, IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("ld-modelfile-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private string Saved(string name)
    {
        string path = Path.Combine(folder, name);
        models.Context.Model.Save(models.Generator, models.Requests(1).Schema, path);
        return path;
    }

    private static MLContext Fresh(string? temp = null)
    {
        var ml = new MLContext(1);
        if (temp is not null) ml.TempFilePath = temp;
        ml.ComponentCatalog.RegisterLatentDiffusion();
        return ml;
    }

    private static void Rewrite(string zip, string suffix, Func<byte[], byte[]> change)
    {
        using var archive = ZipFile.Open(zip, ZipArchiveMode.Update);
        // The first such entry: a saved chain holds one per component.
        var entry = archive.Entries.First(e => e.FullName.EndsWith(suffix));
        byte[] content;
        using (var s = entry.Open()) { using var m = new MemoryStream(); s.CopyTo(m); content = m.ToArray(); }
        string name = entry.FullName;
        entry.Delete();
        using var w = archive.CreateEntry(name).Open();
        w.Write(change(content));
    }

    [Fact]
    public void Damaged_files_fail_with_our_exception_naming_the_entry_not_a_wrapped_one()
    {
        var corrupted = Saved("corrupted.zip");
        Rewrite(corrupted, "Denoiser.weights", bytes => { bytes[bytes.Length / 2] ^= 0xFF; return bytes; });
        var e = Assert.Throws<ModelFileException>(() => Fresh().Model.Load(corrupted, out _));
        Assert.Equal("Denoiser.weights", e.Entry);
        Assert.Equal("DigitGeneratorTransformer", e.Component);
        Assert.Contains("checksum", e.Message);

        var missing = Saved("missing.zip");
        using (var archive = ZipFile.Open(missing, ZipArchiveMode.Update)) archive.Entries.Single(x => x.FullName.EndsWith("Vae.weights")).Delete();
        Assert.Equal("Vae.weights", Assert.Throws<ModelFileException>(() => Fresh().Model.Load(missing, out _)).Entry);

        var badJson = Saved("json.zip");
        Rewrite(badJson, "Config.json", _ => "{ not json"u8.ToArray());
        var json = Assert.Throws<ModelFileException>(() => Fresh().Model.Load(badJson, out _));
        Assert.Equal("Config.json", json.Entry);
    }

    [Fact]
    public void A_damaged_saved_chain_fails_with_our_exception_too_and_leaves_the_temp_folder_empty()
    {
        // Issue 32: the quickstart saves the whole chain, and ML.NET's chain loader wrapped our exception in a TargetInvocationException.
        string path = Path.Combine(folder, "chain.zip");
        models.Context.Model.Save(models.Model, models.Train.Schema, path);
        Rewrite(path, "Denoiser.weights", bytes => { bytes[bytes.Length / 2] ^= 0xFF; return bytes; });
        string temp = Path.Combine(folder, "chain-temp");
        Directory.CreateDirectory(temp);
        var e = Assert.Throws<ModelFileException>(() => Fresh(temp).Model.Load(path, out _));
        Assert.Equal("Denoiser.weights", e.Entry);
        Assert.Contains("checksum", e.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(temp));
    }

    [Fact]
    public void An_old_format_file_names_its_own_entries_and_checks_declared_sizes_before_building()
    {
        // Issue 32: a format-4 file (Settings.bin, no Config.json) with its settings zeroed was blamed on Config.json,
        // and a declared width of 4096 allocated the whole network before its weights were looked at.
        string Copy(string name)
        {
            string path = Path.Combine(folder, name);
            File.Copy(Path.Combine(AppContext.BaseDirectory, "Fixtures", "chain-v4.zip"), path);
            return path;
        }
        var zeroed = Copy("zeroed.zip");
        Rewrite(zeroed, "Settings.bin", bytes => new byte[bytes.Length]);
        var settings = Assert.Throws<ModelFileException>(() => Fresh().Model.Load(zeroed, out _));
        Assert.Equal("Settings.bin", settings.Entry);
        Assert.DoesNotContain("Config.json", settings.Message);

        var wide = Copy("wide.zip");
        // Denoiser.weights: schedule, timesteps, objective, rank, three sides, then the width.
        Rewrite(wide, "Denoiser.weights", bytes => { BitConverter.TryWriteBytes(bytes.AsSpan(28, 4), 4096); return bytes; });
        var size = Assert.Throws<ModelFileException>(() => Fresh().Model.Load(wide, out _));
        Assert.Equal("Denoiser.weights", size.Entry);
        Assert.Contains("declares a network of", size.Message);
    }

    [Fact]
    public void A_model_whose_weights_are_not_finite_is_refused()
    {
        var transformer = models.Generator;
        var diffusion = transformer.Diffusion.Model;
        var weight = diffusion.Denoiser.parameters().First();
        using var saved = weight.detach().clone();
        try
        {
            using (no_grad()) weight.view(-1)[0] = float.NaN;
            var path = Saved("nan.zip");
            var e = Assert.Throws<ModelFileException>(() => Fresh().Model.Load(path, out _));
            Assert.Contains("not finite", e.Message);
            Assert.Equal("Denoiser.weights", e.Entry);
        }
        finally
        {
            using (no_grad()) weight.copy_(saved);
        }
    }

    [Fact]
    public void A_declared_network_far_larger_than_its_weights_is_refused_before_it_is_built()
    {
        var path = Saved("huge.zip");
        Rewrite(path, "Config.json", bytes =>
        {
            var root = JsonNode.Parse(bytes)!;
            root["model"]!["denoiser"]!["width"] = 4096;
            return System.Text.Encoding.UTF8.GetBytes(root.ToJsonString());
        });
        long before = GC.GetTotalMemory(true);
        var e = Assert.Throws<ModelFileException>(() => Fresh().Model.Load(path, out _));
        Assert.Contains("declares", e.Message);
        Assert.Contains("weights (", e.Message);
        Assert.InRange(GC.GetTotalMemory(true) - before, long.MinValue, 100L << 20);
    }

    [Fact]
    public void An_entry_that_declares_more_than_the_bound_is_refused_before_it_is_inflated()
    {
        // The zip's central directory says Denoiser.weights inflates to 3 GB (a zip bomb's header); nothing may be
        // extracted into the temp folder before the refusal.
        var path = Saved("bomb.zip");
        var bytes = File.ReadAllBytes(path);
        byte[] name = System.Text.Encoding.UTF8.GetBytes("Denoiser.weights");
        int patched = 0;
        for (int i = 0; i + 46 < bytes.Length; i++)
        {
            if (BitConverter.ToUInt32(bytes, i) != 0x02014b50) continue;   // central directory header
            int nameLength = BitConverter.ToUInt16(bytes, i + 28);
            if (!bytes.AsSpan(i + 46, nameLength).EndsWith(name)) continue;
            BitConverter.TryWriteBytes(bytes.AsSpan(i + 24, 4), 3_000_000_000u);   // uncompressed size
            patched++;
        }
        Assert.Equal(1, patched);
        File.WriteAllBytes(path, bytes);
        string temp = Path.Combine(folder, "bomb-temp");
        Directory.CreateDirectory(temp);
        var e = Assert.Throws<ModelFileException>(() => Fresh(temp).Model.Load(path, out _));
        Assert.Equal("Denoiser.weights", e.Entry);
        Assert.Contains("3,000,000,000 bytes", e.Message);
        Assert.DoesNotContain(Directory.EnumerateFiles(temp, "*", SearchOption.AllDirectories), f => new FileInfo(f).Length > 1 << 20);
    }

    [Fact]
    public void Loading_writes_only_into_the_contexts_temp_folder_and_leaves_nothing_there()
    {
        var path = Saved("clean.zip");
        string temp = Path.Combine(folder, "temp");
        Directory.CreateDirectory(temp);
        var before = Directory.GetFiles(folder);
        var loaded = Fresh(temp).Model.Load(path, out _);
        Assert.NotNull(loaded);
        Assert.Empty(Directory.EnumerateFileSystemEntries(temp));
        Assert.Equal(before, Directory.GetFiles(folder));
    }
}
