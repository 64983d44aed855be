using System.Text.Json;
using LatentDiffusion.MLNet.Persistence;
using LatentDiffusion.Onnx;
using Microsoft.ML;
using Microsoft.ML.Runtime;

namespace LatentDiffusion.MLNet;

/// <summary>
/// Request rows (optional label, optional seed) to images in [0, 1], generated on ONNX Runtime from a model that the
/// full library exported (<c>ExportOnnx</c>): the ML.NET face of <see cref="OnnxGenerator"/>. Lazy like every
/// transformer here (images are made as the view is read, a batch at a time), usable by a prediction engine, and saved
/// by <c>mlContext.Model.Save</c> with the ONNX files inside the model file. Rows without a seed column take
/// seed * 1,000,003 + row, as the full library's generator does, so both give the same image for the same row.
/// </summary>
/// <remarks>
/// Why a transformer of ours and not ML.NET's <c>ApplyOnnxModel</c>: one image is a loop of network passes (8 to 90)
/// with guidance, the sampler's update and per-request noise between them, and ApplyOnnxModel maps each row through a
/// graph once. It could run one denoising step, leaving the loop to the caller; this runs the whole generation.
/// </remarks>
public sealed class OnnxGeneratorTransformer : BatchTransformer
{
    internal static readonly ComponentFormat Format = new("LatDiffOnnxGenerator", "LDONNXGN", 1, typeof(OnnxGeneratorTransformer), 1, 1);

    /// <summary>What <c>Config.json</c> holds: the columns and the exported model's description.</summary>
    internal sealed record Settings
    {
        public string? LabelColumn { get; init; } = "Label";
        public string SeedColumn { get; init; } = "Seed";
        public string OutputColumn { get; init; } = "GeneratedImage";
        public required ExportedModel Model { get; init; }
    }

    private readonly Settings settings;

    internal OnnxGeneratorTransformer(OnnxGenerator generator, string outputColumn, string labelColumn, string seedColumn)
    {
        OptionChecks.ColumnName(outputColumn, nameof(outputColumn), nameof(OnnxGeneratorTransformer));
        OptionChecks.ColumnName(labelColumn, nameof(labelColumn), nameof(OnnxGeneratorTransformer));
        OptionChecks.ColumnName(seedColumn, nameof(seedColumn), nameof(OnnxGeneratorTransformer));
        Generator = generator;
        settings = new Settings
        {
            LabelColumn = generator.Classes == 0 ? null : labelColumn, SeedColumn = seedColumn, OutputColumn = outputColumn, Model = generator.Model,
        };
    }

    /// <summary>The generator behind the transformer.</summary>
    public OnnxGenerator Generator { get; }

    /// <summary>Output image column: a float vector of <see cref="OnnxGenerator.ImageSize"/>, annotated with the image's shape.</summary>
    public string OutputColumnName => settings.OutputColumn;

    /// <summary>The requested-label column (null for an unconditional model, whose requests carry no label).</summary>
    public string? LabelColumnName => settings.LabelColumn;

    /// <summary>The request-seed column; rows without one derive their seed from the exported seed and their position.</summary>
    public string SeedColumnName => settings.SeedColumn;

    private protected override BatchMapper CreateMapper() => new RequestMapper(settings.LabelColumn, settings.SeedColumn, Generator.Seed,
        Generator.Classes, Generator.BatchSize, [OutputColumn.Shaped(settings.OutputColumn, Generator.ImageShape)],
        (labels, seeds, output) => Generator.GenerateBatch(labels, seeds, output));

    private protected override void Save(ModelSaveContext ctx)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(settings, ExportedModel.Json);
        var streams = new List<(string, Action<BinaryWriter>)> { (ModelStreams.ConfigStream, w => w.Write(json)) };
        foreach (var (name, bytes) in Generator.Files)
            streams.Add((name, w =>
            {
                w.Write(bytes.Length);
                w.Write(bytes);
            }));
        MLNetInternals.Save(ctx, Format, streams);
    }

    private static OnnxGeneratorTransformer Create(IHostEnvironment env, object ctx)
    {
        var streams = MLNetInternals.Open(ctx, Format);
        Settings? settings = null;
        streams.Read(ModelStreams.ConfigStream, r =>
        {
            var bytes = r.ReadBytes(16 << 20);
            settings = JsonSerializer.Deserialize<Settings>(bytes, ExportedModel.Json)
                ?? throw new InvalidDataException("the settings entry is empty.");
            // The description inside is checked as a folder's would be.
            settings.Model.Check($"the '{ModelStreams.ConfigStream}' entry of {nameof(OnnxGeneratorTransformer)}");
        });
        var loaded = settings!;
        var generator = OnnxGenerator.Create(loaded.Model, file =>
        {
            byte[]? bytes = null;
            streams.Read(file, r =>
            {
                int length = r.ReadInt32();
                if (length <= 0 || length > MLNetInternals.MaxPayloadBytes)
                    throw new InvalidDataException($"the entry declares an impossible length {length}.");
                bytes = r.ReadBytes(length);
                if (bytes.Length != length) throw new InvalidDataException($"the entry ends after {bytes.Length} of its {length} bytes.");
            });
            return bytes!;
        });
        return new OnnxGeneratorTransformer(generator, loaded.OutputColumn, loaded.LabelColumn ?? "Label", loaded.SeedColumn);
    }
}
