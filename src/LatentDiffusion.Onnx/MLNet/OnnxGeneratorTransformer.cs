using System.Text.Json.Nodes;
using LatentDiffusion.Export;
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
    /// <summary>
    /// The entry's format (see <see cref="ComponentCodec"/>): Config.json holds the columns and the exported description
    /// (<see cref="ExportedModel"/>), and one stream per ONNX file holds its bytes. Versions: 1, the description in its
    /// format 2; 2, in its format 3 (the sampler as an object, file hashes). Version 1 entries are read through the
    /// description's own migration.
    /// </summary>
    internal static readonly ComponentFormat Format = new("LatDiffOnnxGenerator", "LDONNXGN", 2, typeof(OnnxGeneratorTransformer), 1, 1);

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

    /// <inheritdoc/>
    protected override BatchMapper CreateMapper() => new RequestMapper(settings.LabelColumn, settings.SeedColumn, Generator.Seed,
        Generator.Classes, Generator.BatchSize, [OutputColumn.Shaped(settings.OutputColumn, Generator.ImageShape)],
        (labels, seeds, output) => Generator.GenerateBatch(labels, seeds, output));

    /// <inheritdoc/>
    protected override void Save(ModelSaveContext ctx) =>
        ComponentCodec.Save(ctx, Format, settings, Generator.Files.Select(f => (f.Key, ComponentCodec.Bytes(f.Value))));

    private static OnnxGeneratorTransformer Create(IHostEnvironment env, object ctx)
    {
        var streams = MLNetInternals.Open(ctx, Format);
        string entry = $"the '{ModelStreams.ConfigStream}' entry of {nameof(OnnxGeneratorTransformer)}";
        var loaded = ComponentCodec.ReadSettings<Settings>(streams, (block, version) =>
        {
            // Version 1 held the description in its format 2: read it as a folder's would be, and store it as today's.
            if (version < 2 && block["model"] is JsonObject model)
                block["model"] = JsonNode.Parse(ExportedModel.Parse(model.ToJsonString(), entry).ToJson());
        });
        // The description inside is checked as a folder's would be, and its files as a folder's are.
        try
        {
            loaded.Model.Check(entry);
        }
        catch (InvalidDataException e)
        {
            throw new ModelFileException(nameof(OnnxGeneratorTransformer), ModelStreams.ConfigStream, ErrorText.OneLine(e), e);
        }
        var generator = OnnxGenerator.Create(loaded.Model, file => ComponentCodec.ReadBytes(streams, file), entry);
        return new OnnxGeneratorTransformer(generator, loaded.OutputColumn, loaded.LabelColumn ?? "Label", loaded.SeedColumn);
    }
}
