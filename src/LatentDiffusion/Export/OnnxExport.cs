using LatentDiffusion.Diffusion;
using LatentDiffusion.Models.Vae;

namespace LatentDiffusion.Export;

/// <summary>
/// Writes a trained model as ONNX files and one JSON description (<see cref="SettingsFile"/>): the denoiser, the
/// autoguidance denoiser when there is one, the VAE decoder when there is one, and what a sampling loop needs besides
/// the networks (shapes, the noise schedule, the data standardisation and range, the sampler settings). The networks
/// are float32: sampling in bfloat16 is a TorchSharp setting that an ONNX runtime does not inherit.
/// </summary>
internal static class OnnxExport
{
    public const string DenoiserFile = ExportedModel.DenoiserFile, AutoguidanceFile = ExportedModel.AutoguidanceFile,
        DecoderFile = ExportedModel.DecoderFile, SettingsFile = ExportedModel.SettingsFile;

    /// <summary>Writes the files into <paramref name="folder"/> (created if needed; each file atomically) and returns their paths.</summary>
    public static IReadOnlyList<string> Write(string folder, DiffusionModel model, VaeModel? vae, SamplingOptions sampling, int seed)
    {
        Directory.CreateDirectory(folder);
        var written = new List<string>();
        ExportedFile Save(OnnxGraph graph, string file, string doc)
        {
            string path = Path.Combine(folder, file);
            var bytes = graph.ToBytes(doc);
            IO.AtomicFile.WriteAllBytes(path, bytes);
            written.Add(path);
            return new ExportedFile(file, ExportedModel.Hash(bytes));
        }
        var config = model.Config;
        var denoiser = Save(DenoiserExport.Build(model.Denoiser, "denoiser"), DenoiserFile,
            $"{config.Denoiser.Kind} denoiser of width {config.Denoiser.Width} over [{string.Join(", ", config.Denoiser.DataShape)}]");
        var autoguidance = model.AutoguidanceDenoiser is { } weak
            ? Save(DenoiserExport.Build(weak, "autoguidance"), AutoguidanceFile, $"autoguidance denoiser of width {weak.Config.Width}") : null;
        var decoder = vae is null ? null
            : Save(VaeDecoderExport.Build(vae, "decoder"), DecoderFile,
                $"{vae.Config.Architecture} VAE decoder to [{string.Join(", ", vae.Config.ImageShape)}]");
        var description = new ExportedModel
        {
            Producer = $"LatentDiffusion {typeof(OnnxExport).Assembly.GetName().Version}", Process = model.Process, AlphaBars = model.Schedule.AlphaBars,
            Sampling = sampling.Clone(), Seed = seed, Denoiser = denoiser, Autoguidance = autoguidance, Decoder = decoder, ImageShape = vae?.Config.ImageShape,
            Precision = sampling.Precision == SamplingPrecision.BFloat16
                ? "float32 (the model samples in bfloat16 under TorchSharp; the exported networks are float32)" : "float32",
        };
        description.Check("the exported description");
        string settings = Path.Combine(folder, SettingsFile);
        IO.AtomicFile.WriteAllText(settings, description.ToJson());
        written.Add(settings);
        return written;
    }
}
