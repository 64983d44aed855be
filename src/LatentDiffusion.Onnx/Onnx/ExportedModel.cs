using System.Text.Json;
using System.Text.Json.Serialization;

namespace LatentDiffusion.Onnx;

/// <summary>
/// The sampler settings an exported model samples with, as <c>latent-diffusion.json</c> holds them: the names and
/// meanings of the full library's <c>SamplingOptions</c>, plus the grid of timesteps the sampler visits.
/// </summary>
internal sealed record ExportedSampling
{
    /// <summary>Ddim, Ddpm, DpmSolverPlusPlus2M, UniPc or Heun.</summary>
    public required string Sampler { get; init; }
    /// <summary>The timesteps the sampler steps from, descending; the last step ends at the clean sample.</summary>
    public required int[] Grid { get; init; }
    public double Eta { get; init; }
    /// <summary>DDPM's step variance: BetaTilde or Beta.</summary>
    public string Variance { get; init; } = "BetaTilde";
    public double GuidanceScale { get; init; } = 1;
    public double GuidanceMinNoise { get; init; }
    public double GuidanceMaxNoise { get; init; } = 1;
    public double AutoguidanceScale { get; init; } = 1;
    public double AutoguidanceMinNoise { get; init; }
    public double AutoguidanceMaxNoise { get; init; } = 1;
    public bool ClipToDataRange { get; init; } = true;
    public int BatchSize { get; init; } = 256;
}

/// <summary>
/// What <c>latent-diffusion.json</c> holds beside the ONNX files: shapes, the noise schedule's alpha-bars, the data
/// standardisation and range, the sampler settings and the default seed. The full library writes it
/// (<c>ExportOnnx</c>); <see cref="OnnxGenerator"/> reads it. Version 2 added the sampler's grid; version 1 files
/// (written before the runtime existed) are refused with the way out.
/// </summary>
internal sealed record ExportedModel
{
    public const string DenoiserFile = "denoiser.onnx", AutoguidanceFile = "autoguidance.onnx", DecoderFile = "decoder.onnx",
        SettingsFile = "latent-diffusion.json";

    /// <summary>The version of the layout written now.</summary>
    public const int CurrentVersion = 2;

    internal static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase, Converters = { new JsonStringEnumConverter() },
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public int FormatVersion { get; init; } = CurrentVersion;
    public required string Producer { get; init; }
    public required int[] DataShape { get; init; }
    public required int Classes { get; init; }
    public required int NullClass { get; init; }
    public required string Schedule { get; init; }
    public required int Timesteps { get; init; }
    public required double[] AlphaBars { get; init; }
    /// <summary>What the denoiser predicts: Epsilon, Sample or Velocity.</summary>
    public required string Objective { get; init; }
    public required float[] DataShift { get; init; }
    public required float[] DataScale { get; init; }
    public required float[] DataMin { get; init; }
    public required float[] DataMax { get; init; }
    public required ExportedSampling Sampling { get; init; }
    public required int Seed { get; init; }
    public required string Denoiser { get; init; }
    public string? Autoguidance { get; init; }
    public string? Decoder { get; init; }
    public int[]? ImageShape { get; init; }
    public required string Precision { get; init; }

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Reads and checks a description; <paramref name="source"/> names it in errors.</summary>
    public static ExportedModel Parse(string json, string source)
    {
        int version;
        try
        {
            using var document = JsonDocument.Parse(json);
            version = document.RootElement.TryGetProperty("formatVersion", out var v) && v.TryGetInt32(out int n) ? n : 0;
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{source} is not valid JSON: {e.Message}", e);
        }
        if (version != CurrentVersion)
            throw new InvalidDataException(version < CurrentVersion
                ? $"{source} has format version {version}; this runtime reads version {CurrentVersion}. Export the model again with ExportOnnx "
                    + "(or the example app's export command) from this version of LatentDiffusion."
                : $"{source} has format version {version}, newer than the {CurrentVersion} this runtime reads; update LatentDiffusion.Onnx.");
        ExportedModel model;
        try
        {
            model = JsonSerializer.Deserialize<ExportedModel>(json, Json) ?? throw new InvalidDataException($"{source} is empty.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{source} does not describe an exported model: {e.Message}", e);
        }
        model.Check(source);
        return model;
    }

    /// <summary>Throws, naming <paramref name="source"/> and the field, when the description is inconsistent.</summary>
    internal void Check(string source)
    {
        void Require(bool condition, string what)
        {
            if (!condition) throw new InvalidDataException($"{source}: {what}.");
        }
        Require(DataShape.Length > 0 && DataShape.All(d => d > 0), $"dataShape must be positive sizes; got [{string.Join(", ", DataShape)}]");
        Require(AlphaBars.Length == Timesteps && Timesteps >= 2, $"alphaBars must hold one value per timestep ({Timesteps}); got {AlphaBars.Length}");
        Require(AlphaBars.All(a => a is > 0 and < 1), "alphaBars must lie in (0, 1)");
        Require(Objective is "Epsilon" or "Sample" or "Velocity", $"objective must be Epsilon, Sample or Velocity; got '{Objective}'");
        Require(Sampling.Sampler is "Ddim" or "Ddpm" or "DpmSolverPlusPlus2M" or "UniPc" or "Heun",
            $"sampling.sampler must be Ddim, Ddpm, DpmSolverPlusPlus2M, UniPc or Heun; got '{Sampling.Sampler}'");
        var grid = Sampling.Grid;
        Require(grid.Length > 0 && grid.All(t => t >= 0 && t < Timesteps) && grid.Zip(grid.Skip(1)).All(p => p.First > p.Second),
            $"sampling.grid must be distinct timesteps in [0, {Timesteps}) in descending order");
        Require(Sampling.BatchSize > 0, $"sampling.batchSize must be positive; got {Sampling.BatchSize}");
        int channels = DataShape[0];
        Require(DataShift.Length is 0 || (DataShift.Length == channels && DataScale.Length == channels),
            $"dataShift and dataScale must hold {channels} values (one per index of the first dimension) or none");
        Require(DataMin.Length == DataMax.Length && (DataMin.Length == 0 || DataMin.Length == channels),
            $"dataMin and dataMax must hold {channels} values or none");
        Require(Sampling.AutoguidanceScale == 1 || Autoguidance is not null, "sampling.autoguidanceScale is not 1 but no autoguidance network is named");
        Require(Decoder is null || ImageShape is { Length: 3 }, "a decoder needs imageShape [channels, height, width]");
    }
}
