using System.Text.Json;
using System.Text.Json.Nodes;
using LatentDiffusion.Diffusion;
using LatentDiffusion.IO;

namespace LatentDiffusion.Export;

/// <summary>Reads exported folders of format 2 (see <see cref="ExportedModel"/>'s history) into today's description.</summary>
internal static class LegacyExport
{
    /// <summary>Format 2's fields (it was read leniently: unknown fields were ignored, as they still are here).</summary>
    private sealed record Version2
    {
        public string Producer { get; init; } = "";
        public int[] DataShape { get; init; } = [];
        public int Classes { get; init; }
        public NoiseScheduleKind Schedule { get; init; }
        public int Timesteps { get; init; }
        public double[] AlphaBars { get; init; } = [];
        public DiffusionObjective Objective { get; init; }
        public float[] DataShift { get; init; } = [];
        public float[] DataScale { get; init; } = [];
        public float[] DataMin { get; init; } = [];
        public float[] DataMax { get; init; } = [];
        public int Seed { get; init; }
        public string Denoiser { get; init; } = "";
        public string? Autoguidance { get; init; }
        public string? Decoder { get; init; }
        public int[]? ImageShape { get; init; }
        public string Precision { get; init; } = "float32";
    }

    private static readonly JsonSerializerOptions Lenient = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase, Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() },
    };

    public static ExportedModel FromVersion2(string json)
    {
        Version2 old;
        JsonObject sampling;
        try
        {
            old = JsonSerializer.Deserialize<Version2>(json, Lenient) ?? throw new InvalidDataException("it is empty.");
            sampling = JsonNode.Parse(json)?["sampling"]?.AsObject().DeepClone().AsObject()
                ?? throw new InvalidDataException("it has no sampling block.");
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            throw new InvalidDataException($"it does not describe an exported model of format 2: {ErrorText.OneLine(e)}", e);
        }
        SamplingJsonMigration.ToSamplerObject(sampling, gridField: "grid");
        return new ExportedModel
        {
            FormatVersion = 2, Producer = old.Producer,
            Process = new DiffusionProcess
            {
                DataShape = old.DataShape, Classes = old.Classes, Schedule = old.Schedule, Timesteps = old.Timesteps, Objective = old.Objective,
                DataShift = old.DataShift, DataScale = old.DataScale, DataMin = old.DataMin, DataMax = old.DataMax,
                HasAutoguidance = old.Autoguidance is not null,
            },
            AlphaBars = old.AlphaBars, Sampling = SettingsJson.Deserialize<SamplingOptions>(System.Text.Encoding.UTF8.GetBytes(sampling.ToJsonString())),
            Seed = old.Seed, Denoiser = new ExportedFile(old.Denoiser, null),
            Autoguidance = old.Autoguidance is null ? null : new ExportedFile(old.Autoguidance, null),
            Decoder = old.Decoder is null ? null : new ExportedFile(old.Decoder, null), ImageShape = old.ImageShape, Precision = old.Precision,
        };
    }
}
