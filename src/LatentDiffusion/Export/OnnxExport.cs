using System.Text.Json;
using System.Text.Json.Serialization;
using LatentDiffusion.Diffusion;
using LatentDiffusion.Models;

namespace LatentDiffusion.Export;

/// <summary>
/// Writes a trained model as ONNX files and one JSON description (<see cref="SettingsFile"/>): the denoiser, the
/// autoguidance denoiser when there is one, the VAE decoder when there is one, and what a sampling loop needs besides
/// the networks (shapes, the noise schedule, the data standardisation and range, the sampler settings). The networks
/// are float32: sampling in bfloat16 is a TorchSharp setting that an ONNX runtime does not inherit.
/// </summary>
internal static class OnnxExport
{
    public const string DenoiserFile = "denoiser.onnx", AutoguidanceFile = "autoguidance.onnx", DecoderFile = "decoder.onnx",
        SettingsFile = "latent-diffusion.json";

    /// <summary>The version of <see cref="SettingsFile"/>'s layout.</summary>
    public const int FormatVersion = 1;

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase, Converters = { new JsonStringEnumConverter() },
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>What <see cref="SettingsFile"/> holds.</summary>
    internal sealed record Description
    {
        public int FormatVersion { get; init; } = OnnxExport.FormatVersion;
        public required string Producer { get; init; }
        public required int[] DataShape { get; init; }
        public required int Classes { get; init; }
        public required int NullClass { get; init; }
        public required NoiseScheduleKind Schedule { get; init; }
        public required int Timesteps { get; init; }
        public required double[] AlphaBars { get; init; }
        public required DiffusionObjective Objective { get; init; }
        public required float[] DataShift { get; init; }
        public required float[] DataScale { get; init; }
        public required float[] DataMin { get; init; }
        public required float[] DataMax { get; init; }
        public required SamplingOptions Sampling { get; init; }
        public required int Seed { get; init; }
        public required string Denoiser { get; init; }
        public string? Autoguidance { get; init; }
        public string? Decoder { get; init; }
        public int[]? ImageShape { get; init; }
        public required string Precision { get; init; }
    }

    /// <summary>Writes the files into <paramref name="folder"/> (created if needed; each file atomically) and returns their paths.</summary>
    public static IReadOnlyList<string> Write(string folder, DiffusionModel model, VaeModel? vae, SamplingOptions sampling, int seed)
    {
        Directory.CreateDirectory(folder);
        var written = new List<string>();
        string Save(OnnxGraph graph, string file, string doc)
        {
            string path = Path.Combine(folder, file);
            graph.Save(path, doc);
            written.Add(path);
            return file;
        }
        var config = model.Config;
        string denoiser = Save(DenoiserExport.Build(model.Denoiser, "denoiser"), DenoiserFile,
            $"{config.Denoiser.Kind} denoiser of width {config.Denoiser.Width} over [{string.Join(", ", config.Denoiser.DataShape)}]");
        string? autoguidance = model.AutoguidanceDenoiser is { } weak
            ? Save(DenoiserExport.Build(weak, "autoguidance"), AutoguidanceFile, $"autoguidance denoiser of width {weak.Config.Width}") : null;
        string? decoder = vae is null ? null
            : Save(VaeDecoderExport.Build(vae, "decoder"), DecoderFile,
                $"{vae.Config.Architecture} VAE decoder to [{string.Join(", ", vae.Config.ImageShape)}]");
        var schedule = new NoiseSchedule(config.Schedule, config.Timesteps);
        var description = new Description
        {
            Producer = $"LatentDiffusion {typeof(OnnxExport).Assembly.GetName().Version}", DataShape = config.Denoiser.DataShape,
            Classes = config.Denoiser.Classes, NullClass = config.Denoiser.NullClass, Schedule = config.Schedule, Timesteps = config.Timesteps,
            AlphaBars = schedule.AlphaBars, Objective = config.Objective, DataShift = config.DataShift, DataScale = config.DataScale,
            DataMin = config.DataMin, DataMax = config.DataMax, Sampling = sampling, Seed = seed, Denoiser = denoiser,
            Autoguidance = autoguidance, Decoder = decoder, ImageShape = vae?.Config.ImageShape,
            Precision = sampling.Precision == SamplingPrecision.BFloat16
                ? "float32 (the model samples in bfloat16 under TorchSharp; the exported networks are float32)" : "float32",
        };
        string settings = Path.Combine(folder, SettingsFile);
        IO.AtomicFile.WriteAllText(settings, JsonSerializer.Serialize(description, Json));
        written.Add(settings);
        return written;
    }
}
