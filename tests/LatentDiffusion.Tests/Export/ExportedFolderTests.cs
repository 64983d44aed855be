using System.Text.Json.Nodes;
using LatentDiffusion.Diffusion;
using LatentDiffusion.Diffusion.Samplers;
using LatentDiffusion.Export;
using LatentDiffusion.MLNet;
using LatentDiffusion.Models;
using LatentDiffusion.Models.Vae;
using LatentDiffusion.Onnx;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace LatentDiffusion.Tests.Export;

/// <summary>
/// An exported folder edited or damaged after export (issue 42): the ONNX Runtime engine refuses it when it opens the
/// folder, with one sentence that names the file, the setting, the expected and the actual, as the full library
/// refuses a bad model file. Each case was accepted, silent or a raw runtime error at 148b4f5.
/// </summary>
public class ExportedFolderTests(ITestOutputHelper output) : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("ld-tampered-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private string Settings => Path.Combine(folder, ExportedModel.SettingsFile);

    /// <summary>A small conditional latent model with autoguidance and a decoder, exported as it ships.</summary>
    private void Export()
    {
        var model = OnnxRuntimeTests.Model(DiffusionObjective.Velocity);
        var vaeConfig = new VaeConfig { ImageShape = [1, 28, 28], Width = 8, LatentChannels = 3, Downsampling = 4 };
        manual_seed(3);
        var network = VaeNetwork.Create(vaeConfig, CPU);
        OnnxRuntimeTests.Randomise(network, 4, 0.15);
        var vae = new VaeModel(network, vaeConfig, CPU);
        var sampling = new SamplingOptions { Sampler = new DdimSampler { Steps = 3 }, GuidanceScale = 2, AutoguidanceScale = 1.5 };
        OnnxExport.Write(folder, model, vae, sampling, seed: 5);
    }

    private void EditJson(Action<JsonNode> edit)
    {
        var json = JsonNode.Parse(File.ReadAllText(Settings))!;
        edit(json);
        File.WriteAllText(Settings, json.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>Records the file's current hash, as someone who edits a file and its description together would.</summary>
    private void Rehash(string role, string file) =>
        EditJson(j => j[role]!["sha256"] = ExportedModel.Hash(File.ReadAllBytes(Path.Combine(folder, file))));

    public static TheoryData<string> Cases => [.. Tampering.Keys];

    private static readonly Dictionary<string, (Action<ExportedFolderTests> Tamper, string[] Expected)> Tampering = new()
    {
        ["negative guidance scale"] = (t => t.EditJson(j => j["sampling"]!["guidanceScale"] = -5), ["GuidanceScale", "-5"]),
        ["inverted guidance band"] = (t => t.EditJson(j =>
        {
            j["sampling"]!["guidanceMinNoise"] = 0.8;
            j["sampling"]!["guidanceMaxNoise"] = 0.2;
        }), ["GuidanceMinNoise", "0.8", "0.2"]),
        ["eta above 1"] = (t => t.EditJson(j => j["sampling"]!["sampler"]!["eta"] = 5), ["Eta", "5"]),
        ["negative grid entry"] = (t => t.EditJson(j => j["sampling"]!["sampler"]!["timesteps"] = new JsonArray(150, -3, 0)),
            ["Timesteps[1]", "-3"]),
        ["flipped weight bytes"] = (t => Flip(Path.Combine(t.folder, ExportedModel.DenoiserFile)), ["denoiser.onnx", "SHA-256"]),
        ["truncated denoiser, hash updated"] = (t =>
        {
            string path = Path.Combine(t.folder, ExportedModel.DenoiserFile);
            File.WriteAllBytes(path, File.ReadAllBytes(path)[..1000]);
            t.Rehash("denoiser", ExportedModel.DenoiserFile);
        }, ["denoiser.onnx", "not an ONNX model"]),
        ["decoder saved as the denoiser"] = (t =>
        {
            File.Copy(Path.Combine(t.folder, ExportedModel.DecoderFile), Path.Combine(t.folder, ExportedModel.DenoiserFile), overwrite: true);
            t.Rehash("denoiser", ExportedModel.DenoiserFile);
        }, ["denoiser.onnx", "inputs"]),
        ["data shape that disagrees with the graph"] = (t => t.EditJson(j => j["process"]!["dataShape"] = new JsonArray(3, 8, 8)),
            ["denoiser.onnx", "[3, 8, 8]"]),
        ["larger image shape than the decoder makes"] = (t => t.EditJson(j => j["imageShape"] = new JsonArray(1, 30, 30)),
            ["decoder.onnx", "imageShape", "[1, 30, 30]"]),
        ["smaller image shape than the decoder makes"] = (t => t.EditJson(j => j["imageShape"] = new JsonArray(1, 20, 20)),
            ["decoder.onnx", "imageShape", "[1, 20, 20]"]),
        ["more classes than the denoiser embeds"] = (t => t.EditJson(j => j["process"]!["classes"] = 99), ["denoiser.onnx", "99"]),
    };

    private static void Flip(string path)
    {
        var bytes = File.ReadAllBytes(path);
        // Inside the weights, far from the header: the file still parses, its numbers are wrong.
        for (int i = bytes.Length - 400; i < bytes.Length - 300; i++) bytes[i] ^= 0x5A;
        File.WriteAllBytes(path, bytes);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void A_tampered_folder_is_refused_in_one_sentence_naming_the_file_and_the_setting(string tampering)
    {
        Export();
        using (var intact = OnnxGenerator.Load(folder)) Assert.Equal(784, intact.Generate([1], [1]).Length);
        Tampering[tampering].Tamper(this);
        var refused = Assert.Throws<ModelFileException>(() =>
        {
            using var generator = OnnxGenerator.Load(folder);
            generator.Generate([1, 2], [1, 2]);
        });
        output.WriteLine(refused.Message);
        foreach (var expected in Tampering[tampering].Expected) Assert.Contains(expected, refused.Message);
        Assert.DoesNotContain('\n', refused.Message);
        Assert.Equal(nameof(OnnxGenerator), refused.Component);
    }

    [Fact]
    public void A_request_for_a_class_the_model_lacks_names_the_label_and_the_range()
    {
        Export();
        using var generator = OnnxGenerator.Load(folder);
        var refused = Assert.Throws<ArgumentOutOfRangeException>(() => generator.Generate([99], [1]));
        output.WriteLine(refused.Message);
        Assert.Contains("label 99", refused.Message);
        Assert.Contains("0..3", refused.Message);
    }
}
