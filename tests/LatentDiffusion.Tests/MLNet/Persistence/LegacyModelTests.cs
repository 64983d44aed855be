using LatentDiffusion.Data;
using LatentDiffusion.Diffusion;
using LatentDiffusion.MLNet.Denoising;
using LatentDiffusion.MLNet.Generation;
using Microsoft.ML;
using Microsoft.ML.Data;
using static TorchSharp.torch;

namespace LatentDiffusion.Tests.MLNet.Persistence;

/// <summary>
/// Model files written before the JSON settings format (format versions 1 to 4 of the diffusion components, 1 of the
/// VAE and the classifier) load and keep giving the outputs they gave. Fixtures/README.md says how the files and their
/// expected outputs were made.
/// <para>
/// Two kinds of check. In one process, an old file and the same model saved again in today's format generate
/// bit-identically: one machine computes both sides. Against the outputs recorded when the fixtures were made, on
/// another CPU, the check is <see cref="CrossCpu"/>'s tolerance, since libtorch's kernels round differently on other
/// instruction sets.
/// </para>
/// </summary>
[Trait("Data", "MNIST")]
[Trait("Category", "CrossCpu")]
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

    /// <summary>
    /// The fixtures, the number format they sample in, and what each computes: the binary formats (recorded by dd31296)
    /// and the JSON ones before samplers were objects (recorded by 148b4f5: diffusion 5, generator 6, FID evaluator 3).
    /// </summary>
    public static TheoryData<string> Fixtures => new()
    {
        "chain-v1", "chain-v2", "chain-v3", "chain-v4", "unconditional-v4", "classifier-v1",
        "chain-v6", "unconditional-v5", "heun-v5", "ddpm-v5", "ddim-v5", "classifier-v3",
    };

    /// <summary>chain-v3 and chain-v4 sample in bfloat16; everything else computes in float32.</summary>
    private static CrossCpu.Tolerance ToleranceOf(string fixture) => fixture is "chain-v3" or "chain-v4" ? CrossCpu.BFloat16 : CrossCpu.Float32;

    private static Dictionary<string, float[]> Run(string fixture, MLContext ml, ITransformer loaded) => fixture switch
    {
        "unconditional-v4" or "unconditional-v5" or "heun-v5" or "ddpm-v5" or "ddim-v5" => RunUnconditional(ml, (LatentDiffusionTransformer)loaded),
        "classifier-v1" => RunClassifier(ml, loaded),
        "classifier-v3" => RunClassifier28(ml, loaded),
        _ => RunChain(ml, loaded),
    };

    /// <summary>The expected arrays: for each, a name, a length and that many float32 values.</summary>
    private static Dictionary<string, float[]> Expected(string fixture)
    {
        using var r = new BinaryReader(File.OpenRead(Fixture($"{fixture}.expected.bin")));
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

    /// <summary>The chain over 16 test digits, and five direct requests, two of them unconditional.</summary>
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

    /// <summary>Nine requests with seeds 40..48.</summary>
    private static Dictionary<string, float[]> RunUnconditional(MLContext ml, LatentDiffusionTransformer loaded)
    {
        var requests = ml.Data.LoadFromEnumerable(Enumerable.Range(0, 9).Select(i => new SeedOnly { Seed = 40 + i }));
        return new() { ["GeneratedLatent"] = Flat(loaded.Transform(requests), "GeneratedLatent") };
    }

    /// <summary>Features, scores and predicted labels of the first 16 test digits made small.</summary>
    private static Dictionary<string, float[]> RunClassifier(MLContext ml, ITransformer loaded)
    {
        var scored = loaded.Transform(ml.Data.LoadFromEnumerable(SmallDigits(ml.Data.TakeRows(ml.Data.LoadMnist(MnistSplit.Test), 16))));
        return new()
        {
            ["Features"] = Flat(scored, "Features"),
            ["Score"] = Flat(scored, "Score"),
            ["PredictedLabel"] = scored.GetColumn<int>("PredictedLabel").Select(v => (float)v).ToArray(),
        };
    }

    /// <summary>Features, scores and predicted labels of the first 16 test digits.</summary>
    private static Dictionary<string, float[]> RunClassifier28(MLContext ml, ITransformer loaded)
    {
        var scored = loaded.Transform(ml.Data.TakeRows(ml.Data.LoadMnist(MnistSplit.Test), 16));
        return new()
        {
            ["Features"] = Flat(scored, "Features"),
            ["Score"] = Flat(scored, "Score"),
            ["PredictedLabel"] = scored.GetColumn<int>("PredictedLabel").Select(v => (float)v).ToArray(),
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

    /// <summary>The arrays that deviate from the recorded ones by more than <paramref name="tolerance"/>, with their deviations.</summary>
    private static List<string> OutsideTolerance(Dictionary<string, float[]> expected, Dictionary<string, float[]> actual, CrossCpu.Tolerance tolerance)
    {
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        var failures = new List<string>();
        foreach (var (key, values) in expected)
        {
            Assert.Equal(values.Length, actual[key].Length);
            var deviation = CrossCpu.Measure(values, actual[key]);
            if (!tolerance.Admits(deviation)) failures.Add($"{key}: {deviation} against {tolerance}");
        }
        return failures;
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void A_fixture_gives_its_recorded_outputs_within_the_cross_cpu_tolerance(string fixture)
    {
        var ml = Context();
        var loaded = ml.Model.Load(Fixture($"{fixture}.zip"), out _);
        var failures = OutsideTolerance(Expected(fixture), Run(fixture, ml, loaded), ToleranceOf(fixture));
        Assert.True(failures.Count == 0, string.Join("; ", failures));
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void A_fixture_saved_again_in_todays_format_generates_bit_identically_in_the_same_process(string fixture)
    {
        var ml = Context();
        var loaded = ml.Model.Load(Fixture($"{fixture}.zip"), out var schema);
        var before = Run(fixture, ml, loaded);
        string path = Path.Combine(folder, $"{fixture}-resaved.zip");
        ml.Model.Save(loaded, schema, path);
        using (var zip = System.IO.Compression.ZipFile.OpenRead(path))
        {
            Assert.Contains(zip.Entries, e => e.FullName.EndsWith("Config.json"));
            Assert.DoesNotContain(zip.Entries, e => e.FullName.EndsWith("Settings.bin"));
            if (fixture == "chain-v4") Assert.Contains(zip.Entries, e => e.FullName.EndsWith("Transform_002/Autoguidance.weights"));
        }
        var other = Context();
        AssertBitIdentical(before, Run(fixture, other, other.Model.Load(path, out _)));
    }

    [Fact]
    public void A_one_percent_error_in_one_weight_tensor_fails_the_float32_tolerance()
    {
        var ml = Context();
        var chain = (TransformerChain<ITransformer>)ml.Model.Load(Fixture("chain-v2.zip"), out _);
        using (no_grad()) ((LatentDiffusionTransformer)chain.ElementAt(1)).Model.Denoiser.parameters().First().mul_(1.01);
        var failures = OutsideTolerance(Expected("chain-v2"), RunChain(ml, chain), CrossCpu.Float32);
        Assert.Contains(failures, f => f.StartsWith("GeneratedLatent:"));
    }

    [Fact]
    public void A_zeroed_weight_tensor_fails_the_bfloat16_tolerance()
    {
        var ml = Context();
        var chain = (TransformerChain<ITransformer>)ml.Model.Load(Fixture("chain-v4.zip"), out _);
        // Before the first sample: the bfloat16 copy of the weights is made then.
        using (no_grad()) ((LatentDiffusionTransformer)chain.ElementAt(1)).Model.Denoiser.parameters().First().zero_();
        var failures = OutsideTolerance(Expected("chain-v4"), RunChain(ml, chain), CrossCpu.BFloat16);
        Assert.Contains(failures, f => f.StartsWith("GeneratedLatent:"));
    }

    [Fact]
    public void An_unconditional_model_with_the_old_x0_objective_reads_as_such()
    {
        var loaded = (LatentDiffusionTransformer)Context().Model.Load(Fixture("unconditional-v4.zip"), out _);
        Assert.Null(loaded.LabelColumnName);
        Assert.Equal(DiffusionObjective.Sample, loaded.Config.Objective);
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
