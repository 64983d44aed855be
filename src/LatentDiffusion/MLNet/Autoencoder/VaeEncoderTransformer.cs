using LatentDiffusion.MLNet.Formats;
using LatentDiffusion.MLNet.Persistence;
using LatentDiffusion.Models;
using LatentDiffusion.Models.Vae;
using LatentDiffusion.Training;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace LatentDiffusion.MLNet.Autoencoder;

/// <summary>The fitted VAE: image column to standardised latent column; decodes latents back to images.</summary>
public sealed class VaeEncoderTransformer : BatchTransformer
{
    /// <summary>What is saved besides the weights (the <c>Config.json</c> block; see <see cref="ComponentFormats"/>).</summary>
    internal sealed record Settings
    {
        public string ImageColumn { get; init; } = "Image";
        public string LatentColumn { get; init; } = "Latent";
        public LatentOutput Output { get; init; }
        public int Seed { get; init; }
        public VaeConfig Vae { get; init; } = new();
        public EpochRecord[] History { get; init; } = [];
    }

    private const string WeightsStream = "Vae.weights";
    private readonly Settings settings;

    internal VaeEncoderTransformer(VaeModel model, Settings settings)
    {
        OptionChecks.ColumnName(settings.ImageColumn, nameof(settings.ImageColumn), nameof(VaeEncoderTransformer));
        OptionChecks.ColumnName(settings.LatentColumn, nameof(settings.LatentColumn), nameof(VaeEncoderTransformer));
        OptionChecks.Defined(settings.Output, nameof(settings.Output), nameof(VaeEncoderTransformer));
        Model = model;
        this.settings = settings with { Vae = model.Config };
        History = new TrainingHistory(settings.History);
    }

    internal VaeModel Model { get; }
    /// <summary>The image column read.</summary>
    public string ImageColumnName => settings.ImageColumn;
    /// <summary>The latent column written.</summary>
    public string LatentColumnName => settings.LatentColumn;
    /// <summary>Mean or sample.</summary>
    public LatentOutput Output => settings.Output;
    /// <summary>Seed of per-row latent samples.</summary>
    public int Seed => settings.Seed;
    /// <summary>Per-epoch losses.</summary>
    public TrainingHistory History { get; }
    /// <summary>The VAE's architecture and latent standardisation.</summary>
    public VaeConfig Config => Model.Config;
    /// <summary>Latent shape: channels, height, width.</summary>
    public IReadOnlyList<int> LatentShape => Model.LatentShape;
    /// <summary>Image shape: channels, height, width.</summary>
    public IReadOnlyList<int> ImageShape => Model.Config.ImageShape;
    /// <summary>Image size in floats.</summary>
    public int ImageSize => Model.ImageSize;

    /// <summary>The latent column: its shape, and ML.NET's IsNormalized mark (the latents are standardised per channel).</summary>
    internal static OutputColumn LatentColumn(string name, int[] shape) => new(name, shape.Aggregate(1, (a, b) => a * b), a =>
    {
        ShapeAnnotation.Add(a, shape);
        a.Add(ColumnReader.IsNormalizedAnnotation, BooleanDataViewType.Instance, (ValueGetter<bool>)((ref bool v) => v = true));
    });

    /// <summary>A copy that writes the posterior mean or a per-row sample.</summary>
    public VaeEncoderTransformer WithOutput(LatentOutput output, int? seed = null) =>
        new(Model, settings with { Output = output, Seed = seed ?? Seed });

    /// <summary>Decodes standardised latents (rows x latent size, row-major) to images in [0,1].</summary>
    public float[] Decode(float[] latents, int rows)
    {
        ArgumentNullException.ThrowIfNull(latents);
        if (rows < 1 || (long)rows * Model.LatentSize != latents.Length)
            throw new ArgumentException($"Expected {rows} latents of {Model.LatentSize} floats ({rows * Model.LatentSize} values), got "
                + $"{latents.Length}.", nameof(latents));
        return Model.Decode(latents, rows);
    }

    /// <summary>Images decoded from raw latents drawn from the VAE prior N(0, I): the "VAE" row of the seed's FID table.</summary>
    public float[] SamplePrior(int count, int seed)
    {
        // One float array holds them all.
        long most = Array.MaxLength / Model.ImageSize;
        if (count < 1 || count > most)
            throw new ArgumentOutOfRangeException(nameof(count), count,
                $"SamplePrior's count must be between 1 and {most:N0} (images of {Model.ImageSize} values in one array), got {count}.");
        return Model.SamplePrior(count, seed);
    }

    /// <summary>Mean squared pixel error of decode(encode(x)) over the image column of <paramref name="data"/>.</summary>
    public double ReconstructionMse(IDataView data, string? imageColumn = null)
    {
        string column = imageColumn ?? ImageColumnName;
        ColumnReader.RequireFloatVector(data.Schema, column, "images to reconstruct", Model.ImageSize);
        double total = 0;
        long count = 0;
        using var cursor = data.GetRowCursor([data.Schema[column]]);
        var getter = cursor.GetGetter<VBuffer<float>>(data.Schema[column]);
        var batch = new float[256 * Model.ImageSize];
        VBuffer<float> cell = default;
        int filled = 0;
        void Flush()
        {
            if (filled == 0) return;
            total += Model.ReconstructionSquaredError(batch[..(filled * Model.ImageSize)], filled);
            count += (long)filled * Model.ImageSize;
            filled = 0;
        }
        while (cursor.MoveNext())
        {
            getter(ref cell);
            ColumnReader.CopyFinite(cell, batch.AsSpan(filled * Model.ImageSize, Model.ImageSize), column, cursor.Position);
            if (++filled == 256) Flush();
        }
        Flush();
        if (count == 0) throw new ArgumentException($"The view has no rows in column '{column}'.", nameof(data));
        return total / count;
    }

    /// <inheritdoc/>
    protected override BatchMapper CreateMapper() => new ImageColumnMapper(ImageColumnName, Model.ImageSize, "images to encode", 256,
        [LatentColumn(LatentColumnName, Model.LatentShape)], (images, rows, positions, vectors, _) =>
        {
            long[]? seeds = Output == LatentOutput.Sample ? [.. positions[..rows].Select(p => ComponentSupport.RowSeed(Seed, p))] : null;
            Model.Encode(images, rows, seeds).CopyTo(vectors[0], 0);
        });

    /// <summary>What a model file holds besides the weights; the generator keeps it for the VAE it decodes with.</summary>
    internal Settings SavedSettings => settings with { History = [.. History.Epochs] };

    /// <inheritdoc/>
    protected override void Save(ModelSaveContext ctx) =>
        WeightStreams.Save(ctx, ComponentFormats.VaeEncoder, SavedSettings, [(WeightsStream, Model.Network)]);

    /// <summary>A VAE rebuilt from its config, its weights read from <paramref name="stream"/>.</summary>
    internal static VaeModel ReadVae(ModelStreams streams, string stream, VaeConfig config, TorchSharp.torch.Device device) =>
        WeightStreams.ReadModel<VaeConfig, VaeModel>(streams, config, device, (stream, VaeModel.ParameterCount, m => m.Network));

    private static VaeEncoderTransformer Create(IHostEnvironment env, object ctx) => WeightStreams.Load(env, ctx, ComponentFormats.VaeEncoder,
        LegacyFormats.ReadVaeEncoder, (streams, settings, device) => ReadVae(streams, WeightsStream, settings.Vae, device),
        (model, settings) => new VaeEncoderTransformer(model, settings));
}
