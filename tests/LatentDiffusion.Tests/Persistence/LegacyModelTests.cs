using LatentDiffusion.Data;
using LatentDiffusion.MLNet;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace LatentDiffusion.Tests.Persistence;

/// <summary>
/// Model files written before the JSON settings format (format versions 1 to 4 of the diffusion components, 1 of the
/// VAE and the classifier) load and give bit-identical outputs. Fixtures/README.md says how the files and their
/// expected outputs were made.
/// </summary>
public class LegacyModelTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("ld-legacy-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);

    private static MLContext Context()
    {
        var ml = new MLContext(1);
        ml.ComponentCatalog.RegisterLatentDiffusion();
        return ml;
    }

    /// <summary>The expected arrays: for each, a name, a length and that many float32 values.</summary>
    private static Dictionary<string, float[]> Expected(string name)
    {
        using var r = new BinaryReader(File.OpenRead(Fixture(name)));
        var arrays = new Dictionary<string, float[]>();
        int count = r.ReadInt32();
        for (int i = 0; i < count; i++)
        {
            string key = r.ReadString();
            arrays[key] = Enumerable.Range(0, r.ReadInt32()).Select(_ => r.ReadSingle()).ToArray();
        }
        return arrays;
    }

    private static float[] Flat(IDataView view, string column) => view.GetColumn<float[]>(column).SelectMany(v => v).ToArray();

    /// <summary>The fixture computations: the chain over 16 test digits, and five direct requests, two of them unconditional.</summary>
    private static Dictionary<string, float[]> RunChain(MLContext ml, ITransformer loaded)
    {
        var chain = (TransformerChain<ITransformer>)loaded;
        var output = chain.Transform(ml.Data.TakeRows(ml.Data.LoadMnist(MnistSplit.Test), 16));
        return new()
        {
            ["Latent"] = Flat(output, "Latent"),
            ["GeneratedLatent"] = Flat(output, "GeneratedLatent"),
            ["GeneratedImage"] = Flat(output, "GeneratedImage"),
            ["Generate"] = ((DigitGeneratorTransformer)chain.LastTransformer).Generate([3, -1, 7, -1, 0], [11, 12, 13, 14, 15]),
        };
    }

    private static void AssertBitIdentical(Dictionary<string, float[]> expected, Dictionary<string, float[]> actual)
    {
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (key, values) in expected)
        {
            Assert.Equal(values.Length, actual[key].Length);
            int differing = values.Zip(actual[key]).Count(p => BitConverter.SingleToInt32Bits(p.First) != BitConverter.SingleToInt32Bits(p.Second));
            Assert.True(differing == 0, $"{key}: {differing} of {values.Length} values differ");
        }
    }

    [Theory]
    [InlineData(1)]   // conditional, guidance 1, DDIM
    [InlineData(2)]   // guidance band, DDPM, cosine / velocity / Min-SNR
    [InlineData(3)]   // bfloat16 sampling, DDIM eta 0.5
    [InlineData(4)]   // autoguidance denoiser, autoguidance band and guidance band, bfloat16
    public void A_chain_saved_in_format_version_n_loads_and_generates_bit_identically(int version)
    {
        var ml = Context();
        var loaded = ml.Model.Load(Fixture($"chain-v{version}.zip"), out _);
        AssertBitIdentical(Expected($"chain-v{version}.expected.bin"), RunChain(ml, loaded));
    }

    [Fact]
    public void A_legacy_chain_saved_again_is_written_in_todays_format_and_still_generates_the_same()
    {
        var ml = Context();
        var loaded = ml.Model.Load(Fixture("chain-v4.zip"), out var schema);
        string path = Path.Combine(folder, "resaved.zip");
        ml.Model.Save(loaded, schema, path);
        using (var zip = System.IO.Compression.ZipFile.OpenRead(path))
        {
            Assert.Contains(zip.Entries, e => e.FullName.EndsWith("Transform_002/Config.json"));
            Assert.Contains(zip.Entries, e => e.FullName.EndsWith("Transform_002/Autoguidance.weights"));
            Assert.DoesNotContain(zip.Entries, e => e.FullName.EndsWith("Settings.bin"));
        }
        AssertBitIdentical(Expected("chain-v4.expected.bin"), RunChain(ml, Context().Model.Load(path, out _)));
    }

    [Fact]
    public void An_unconditional_model_with_the_old_x0_objective_loads_and_samples_bit_identically()
    {
        var ml = Context();
        var loaded = (LatentDiffusionTransformer)ml.Model.Load(Fixture("unconditional-v4.zip"), out _);
        Assert.Null(loaded.LabelColumnName);
        Assert.Equal(LatentDiffusion.Diffusion.DiffusionObjective.Sample, loaded.Config.Objective);
        var requests = ml.Data.LoadFromEnumerable(Enumerable.Range(0, 9).Select(i => new SeedOnly { Seed = 40 + i }));
        AssertBitIdentical(Expected("unconditional-v4.expected.bin"), new() { ["GeneratedLatent"] = Flat(loaded.Transform(requests), "GeneratedLatent") });
    }

    [Fact]
    public void A_version_1_classifier_loads_and_gives_the_same_features()
    {
        var ml = Context();
        var loaded = ml.Model.Load(Fixture("classifier-v1.zip"), out _);
        var scored = loaded.Transform(ml.Data.LoadFromEnumerable(SmallDigits(ml.Data.TakeRows(ml.Data.LoadMnist(MnistSplit.Test), 16))));
        AssertBitIdentical(Expected("classifier-v1.expected.bin"), new()
        {
            ["Features"] = Flat(scored, "Features"),
            ["Score"] = Flat(scored, "Score"),
            ["PredictedLabel"] = scored.GetColumn<int>("PredictedLabel").Select(v => (float)v).ToArray(),
        });
    }

    /// <summary>8x8 digits: the centre 24x24 of each averaged over 3x3 blocks (as the fixture was made).</summary>
    private static IEnumerable<SmallDigit> SmallDigits(IDataView data)
    {
        foreach (var (label, image) in data.GetColumn<int>("Label").Zip(data.GetColumn<float[]>("Image")))
        {
            var small = new float[64];
            for (int y = 0; y < 8; y++)
                for (int x = 0; x < 8; x++)
                {
                    float sum = 0;
                    for (int dy = 0; dy < 3; dy++)
                        for (int dx = 0; dx < 3; dx++) sum += image[(2 + y * 3 + dy) * 28 + 2 + x * 3 + dx];
                    small[y * 8 + x] = sum / 9;
                }
            yield return new SmallDigit { Label = label, Image = small };
        }
    }

    private sealed class SeedOnly
    {
        public long Seed { get; set; }
    }

    private sealed class SmallDigit
    {
        public int Label { get; set; }
        [VectorType(64)] public float[] Image { get; set; } = [];
    }
}
