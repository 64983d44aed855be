using System.Security.Cryptography;
using System.Text.Json;
using LatentDiffusion.Diffusion;
using LatentDiffusion.IO;

namespace LatentDiffusion.Export;

/// <summary>One ONNX file of an exported folder: its name in the folder and the SHA-256 of its bytes (lower-case hex).</summary>
/// <param name="Name">The file's name, without folders.</param>
/// <param name="Sha256">Its hash; null only in folders written before hashes were recorded (format 2).</param>
public sealed record ExportedFile(string Name, string? Sha256);

/// <summary>
/// What <c>latent-diffusion.json</c> holds beside the ONNX files of an exported model: the diffusion process (shapes,
/// classes, schedule and its alpha-bars, objective, data standardisation and range), the sampling settings (the
/// sampler with its own settings, guidance, batch size), the default seed, and each file with its SHA-256. The
/// TorchSharp engine writes it (<c>ExportOnnx</c>); the ONNX Runtime engine reads it with the same types and checks as
/// a model file's settings.
/// </summary>
/// <remarks>
/// Format history. 1: written before the ONNX Runtime engine existed; refused with the way out. 2: flat process fields,
/// the sampler as a name with the grid of timesteps it visits; read by mapping it to this layout (the grid becomes the
/// sampler's explicit <see cref="Diffusion.Samplers.DiffusionSampler.Timesteps"/>). 3: this layout, with file hashes.
/// </remarks>
public sealed record ExportedModel
{
    /// <summary>The files ExportOnnx writes.</summary>
    public const string DenoiserFile = "denoiser.onnx", AutoguidanceFile = "autoguidance.onnx", DecoderFile = "decoder.onnx",
        SettingsFile = "latent-diffusion.json";

    /// <summary>The version of the layout written now.</summary>
    public const int CurrentVersion = 3;

    /// <summary>The layout's version.</summary>
    public int FormatVersion { get; init; } = CurrentVersion;

    /// <summary>The library and version that wrote it.</summary>
    public required string Producer { get; init; }

    /// <summary>The diffusion process the networks were trained on.</summary>
    public required DiffusionProcess Process { get; init; }

    /// <summary>
    /// The schedule's alpha-bars as the exporter computed them: the reader computes the schedule from
    /// <see cref="Process"/> and refuses a folder whose values differ.
    /// </summary>
    public required double[] AlphaBars { get; init; }

    /// <summary>How to sample: the sampler and its settings, guidance, clipping, batch size.</summary>
    public required SamplingOptions Sampling { get; init; }

    /// <summary>The seed request rows without a seed column derive theirs from.</summary>
    public required int Seed { get; init; }

    /// <summary>The denoiser graph: x [N, ..data shape], t [N] (float), labels [N] (int64, when conditional) to the prediction.</summary>
    public required ExportedFile Denoiser { get; init; }

    /// <summary>The autoguidance denoiser's graph (same inputs), when the model has one.</summary>
    public ExportedFile? Autoguidance { get; init; }

    /// <summary>The decoder graph (latents to images in [0, 1]), for a latent model.</summary>
    public ExportedFile? Decoder { get; init; }

    /// <summary>Shape of the decoded images (channels, height, width), with a decoder.</summary>
    public int[]? ImageShape { get; init; }

    /// <summary>The number format of the networks (a note for people; float32).</summary>
    public required string Precision { get; init; }

    /// <summary>The description as <c>latent-diffusion.json</c> holds it.</summary>
    public string ToJson() => System.Text.Encoding.UTF8.GetString(SettingsJson.Serialize(this));

    /// <summary>The SHA-256 of <paramref name="bytes"/>, as <see cref="ExportedFile.Sha256"/> records it.</summary>
    public static string Hash(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    /// <summary>The files the description names, in the order denoiser, autoguidance, decoder.</summary>
    public IEnumerable<ExportedFile> Files() => new[] { Denoiser, Autoguidance, Decoder }.OfType<ExportedFile>();

    /// <summary>Reads and checks a description; <paramref name="source"/> names it in errors.</summary>
    public static ExportedModel Parse(string json, string source)
    {
        int version;
        try
        {
            using var document = JsonDocument.Parse(json);
            version = document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("formatVersion", out var v)
                && v.TryGetInt32(out int n) ? n : 0;
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{source} is not valid JSON: {ErrorText.OneLine(e)}", e);
        }
        ExportedModel model;
        try
        {
            model = version switch
            {
                CurrentVersion => SettingsJson.Deserialize<ExportedModel>(System.Text.Encoding.UTF8.GetBytes(json)),
                2 => LegacyExport.FromVersion2(json),
                < CurrentVersion => throw new InvalidDataException($"it has format version {version}; this library reads versions 2 and "
                    + $"{CurrentVersion}. Export the model again with ExportOnnx (or the example app's export command) from this version of LatentDiffusion."),
                _ => throw new InvalidDataException($"it has format version {version}, newer than the {CurrentVersion} this library reads; update "
                    + "LatentDiffusion.Onnx."),
            };
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{source}: {ErrorText.OneLine(e)}", e);
        }
        model.Check(source);
        return model;
    }

    /// <summary>Throws, naming <paramref name="source"/> and the setting, when the description is inconsistent.</summary>
    public void Check(string source)
    {
        void Require(bool condition, string what)
        {
            if (!condition) throw new InvalidDataException($"{source}: {what}.");
        }
        Require(Process is not null && Sampling is not null && Denoiser is not null && AlphaBars is not null,
            "process, alphaBars, sampling and denoiser must all be given");
        try
        {
            Process!.Validate(source);
            Sampling!.Validate(Process);
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"{source}: {ErrorText.OneLine(e)}", e);
        }
        var schedule = Process.CreateSchedule();
        Require(AlphaBars!.Length == schedule.Timesteps, $"alphaBars must hold one value per timestep ({schedule.Timesteps}); got {AlphaBars.Length}");
        for (int t = 0; t < AlphaBars.Length; t++)
            Require(AlphaBars[t] == schedule.AlphaBars[t],
                $"alphaBars[{t}] is {AlphaBars[t]:R}, but the {Process.Schedule} schedule of {Process.Timesteps} timesteps "
                + $"has {schedule.AlphaBars[t]:R} there");
        Require(Process.HasAutoguidance == Autoguidance is not null, Process.HasAutoguidance
            ? "process.hasAutoguidance is true but no autoguidance file is named" : "an autoguidance file is named but process.hasAutoguidance is false");
        foreach (var (file, role) in new[] { (Denoiser, "denoiser"), (Autoguidance, "autoguidance"), (Decoder, "decoder") })
            if (file is not null)
                Require(!string.IsNullOrWhiteSpace(file.Name) && Path.GetFileName(file.Name) == file.Name,
                    $"{role}.name must be a file name in the folder (no path), got '{file.Name}'");
        Require(Decoder is null || ImageShape is [> 0, > 0, > 0],
            $"a decoder needs imageShape [channels, height, width] of positive sizes, got [{string.Join(", ", ImageShape ?? [])}]");
        Require(Decoder is not null || ImageShape is null, "imageShape is given but there is no decoder");
    }
}
