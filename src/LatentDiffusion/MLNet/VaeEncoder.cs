using LatentDiffusion.MLNet.Persistence;
using LatentDiffusion.Models;
using LatentDiffusion.Runtime;
using LatentDiffusion.Training;
using Microsoft.Extensions.Logging;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace LatentDiffusion.MLNet;

/// <summary>The reconstruction term of the VAE loss.</summary>
public enum ReconstructionLoss
{
    /// <summary>Binary cross-entropy on pixel logits (pixels in [0,1]).</summary>
    BinaryCrossEntropy,
    /// <summary>Squared error of the sigmoid output.</summary>
    MeanSquaredError,
}

/// <summary>What the encoder transformer writes into the latent column.</summary>
public enum LatentOutput
{
    /// <summary>The posterior mean (deterministic).</summary>
    Mean,
    /// <summary>A reparameterised sample, seeded per row.</summary>
    Sample,
}

/// <summary>Options of <see cref="VaeEncoderEstimator"/>.</summary>
public sealed class VaeEncoderOptions : TrainingOptions
{
    /// <summary>Input: square grayscale images as a known-size vector of Single in [0,1]. Default "Image".</summary>
    public string ImageColumnName { get; set; } = "Image";
    /// <summary>Output: the standardised latent (channels x side x side floats). Default "Latent".</summary>
    public string LatentColumnName { get; set; } = "Latent";
    /// <summary>Latent channels. Default 4.</summary>
    public int LatentChannels { get; set; } = 4;
    /// <summary>Latent side: the image side divided by 2 or 4. Default 7 (for 28x28).</summary>
    public int LatentSide { get; set; } = 7;
    /// <summary>Convolution width. Default 64.</summary>
    public int Width { get; set; } = 64;
    /// <summary>Weight of the KL term against the summed reconstruction loss. Default 0.05: small, so that reconstructions stay sharp; latents are standardised afterwards.</summary>
    public double KlWeight { get; set; } = 0.05;
    /// <summary>Reconstruction loss. Default binary cross-entropy.</summary>
    public ReconstructionLoss Reconstruction { get; set; } = ReconstructionLoss.BinaryCrossEntropy;
    /// <summary>Training epochs. Default 5.</summary>
    public int Epochs { get; set; } = 5;
    /// <summary>Share of rows held out for the validation loss. Default 0.02.</summary>
    public double ValidationFraction { get; set; } = 0.02;
    /// <summary>Mean or sample in the latent column. Default mean.</summary>
    public LatentOutput Output { get; set; } = LatentOutput.Mean;
}

/// <summary>
/// Trains a convolutional VAE (spatial latent, KL-regularised) on an image column. The fitted
/// <see cref="VaeEncoderTransformer"/> maps images to standardised latents, records the latent shape in the column's
/// annotations, and owns the decoder that <see cref="DigitGenerator"/> uses.
/// </summary>
public sealed class VaeEncoderEstimator : IEstimator<VaeEncoderTransformer>
{
    private readonly MLContext? context;
    private readonly VaeEncoderOptions options;

    /// <summary>Creates the estimator; prefer <c>mlContext.Transforms.EncodeToLatent(...)</c>.</summary>
    public VaeEncoderEstimator(MLContext? context, VaeEncoderOptions? options = null)
    {
        this.context = context;
        this.options = options ?? new VaeEncoderOptions();
        var o = this.options;
        if (o.LatentChannels < 1 || o.LatentSide < 1 || o.Width < 2 || o.Epochs < 1 || o.BatchSize < 1 || !(o.LearningRate > 0) || !(o.KlWeight >= 0)
            || o.ValidationFraction is < 0 or >= 1)
            throw new ArgumentOutOfRangeException(nameof(options), "VaeEncoderOptions: LatentChannels, LatentSide, Epochs and BatchSize must be positive, LearningRate > 0, KlWeight >= 0, ValidationFraction in [0, 1).");
        o.ValidateShared(nameof(VaeEncoderOptions));
    }

    /// <inheritdoc/>
    public VaeEncoderTransformer Fit(IDataView input)
    {
        int size = ColumnReader.RequireFloatVector(input.Schema, options.ImageColumnName, "images to encode");
        int side = FidEvaluatorTransformer.SideOf(options.ImageColumnName, size);
        if (side != options.LatentSide * 2 && side != options.LatentSide * 4)
            throw new ArgumentOutOfRangeException(nameof(options), $"VaeEncoderOptions.LatentSide {options.LatentSide} must be the image side {side} divided by 2 or 4.");
        var (images, _, rows) = ColumnReader.ReadAll(input, options.ImageColumnName, size, null, 0, options.CancellationToken);
        if (images.Any(v => v is < 0 or > 1) && options.Reconstruction == ReconstructionLoss.BinaryCrossEntropy)
            throw new ArgumentOutOfRangeException(options.ImageColumnName, $"Column '{options.ImageColumnName}': binary cross-entropy needs pixels in [0,1], but values outside were found (min {images.Min()}, max {images.Max()}). Scale the pixels (ExtractPixels with scaleImage: 1/255f) or use MeanSquaredError.");

        using var log = new ComponentLogger(context, options.Logger, nameof(VaeEncoderEstimator));
        var device = DeviceSelector.Resolve(options.Device);
        torch.manual_seed(options.Seed);
        var network = new ConvVae(side, options.LatentChannels, options.LatentSide, options.Width).to(device);
        int validationRows = (int)(rows * options.ValidationFraction);
        int trainRows = rows - validationRows;
        log.LogInformation("Training the VAE ({Channels}x{Side}x{Side} latent) on {Rows} images for {Epochs} epochs", options.LatentChannels, options.LatentSide, options.LatentSide, trainRows, options.Epochs);
        TrainingHistory history;
        using (var all = tensor(images, [rows, size]))
        using (var train = all.narrow(0, 0, trainRows).to(device))
        using (var validation = all.narrow(0, trainRows, validationRows).to(device))
        {
            history = VaeTraining.Train(network, train, validation, options.Reconstruction == ReconstructionLoss.BinaryCrossEntropy, options.KlWeight,
                options.Loop("vae", trainRows, options.Epochs, log), options.CancellationToken);
        }

        // Standardise each latent channel over the training set (posterior means), as LDM scales its latents.
        var unit = new VaeModel(network, new float[options.LatentChannels], Enumerable.Repeat(1f, options.LatentChannels).ToArray(), device);
        var sum = new double[options.LatentChannels];
        var sumSq = new double[options.LatentChannels];
        int perChannel = options.LatentSide * options.LatentSide;
        for (int start = 0; start < rows; start += 1024)
        {
            int n = Math.Min(1024, rows - start);
            var latents = unit.Encode(images[(start * size)..((start + n) * size)], n);
            for (int i = 0; i < latents.Length; i++)
            {
                int c = i / perChannel % options.LatentChannels;
                sum[c] += latents[i];
                sumSq[c] += (double)latents[i] * latents[i];
            }
        }
        double count = (double)rows * perChannel;
        var shift = sum.Select(s => (float)(s / count)).ToArray();
        var scale = sum.Select((s, c) => (float)Math.Sqrt(Math.Max(sumSq[c] / count - (s / count) * (s / count), 1e-12))).ToArray();
        log.LogInformation("Latent standardisation: shift [{Shift}], scale [{Scale}]", string.Join(", ", shift.Select(v => v.ToString("F3"))), string.Join(", ", scale.Select(v => v.ToString("F3"))));
        return new VaeEncoderTransformer(new VaeModel(network, shift, scale, device), options.ImageColumnName, options.LatentColumnName, options.Output, options.Seed, history);
    }

    /// <inheritdoc/>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ComponentSupport.RequireFloatVectorShape(inputSchema, options.ImageColumnName, "images to encode");
        return ComponentSupport.Append(inputSchema, [VaeEncoderTransformer.LatentColumn(options.LatentColumnName, [options.LatentChannels, options.LatentSide, options.LatentSide])]);
    }
}

/// <summary>The fitted VAE: image column to standardised latent column; decodes latents back to images.</summary>
public sealed class VaeEncoderTransformer : ITransformer
{
    /// <summary>Name of the annotation on the latent column that holds its shape (channels, height, width) as Vector&lt;Int32, 3&gt;.</summary>
    public const string LatentShapeAnnotation = "LatentShape";

    internal static readonly ComponentFormat Format = new("LatDiffVaeEncoder", "LDVAEENC", 1, typeof(VaeEncoderTransformer));

    internal VaeEncoderTransformer(VaeModel model, string imageColumn, string latentColumn, LatentOutput output, int seed, TrainingHistory history)
    {
        Model = model;
        ImageColumnName = imageColumn;
        LatentColumnName = latentColumn;
        Output = output;
        Seed = seed;
        History = history;
    }

    internal VaeModel Model { get; }
    /// <summary>The image column read.</summary>
    public string ImageColumnName { get; }
    /// <summary>The latent column written.</summary>
    public string LatentColumnName { get; }
    /// <summary>Mean or sample.</summary>
    public LatentOutput Output { get; }
    /// <summary>Seed of per-row latent samples.</summary>
    public int Seed { get; }
    /// <summary>Per-epoch losses.</summary>
    public TrainingHistory History { get; }
    /// <summary>Latent shape: channels, height, width.</summary>
    public IReadOnlyList<int> LatentShape => Model.LatentShape;
    /// <summary>Image size in floats.</summary>
    public int ImageSize => Model.ImageSize;

    internal static OutputColumn LatentColumn(string name, int[] shape) => new(name, shape[0] * shape[1] * shape[2], a =>
        a.Add(LatentShapeAnnotation, new VectorDataViewType(NumberDataViewType.Int32, 3),
            (ValueGetter<VBuffer<int>>)((ref VBuffer<int> v) => v = new VBuffer<int>(3, [.. shape]))));

    /// <summary>A copy that writes the posterior mean or a per-row sample.</summary>
    public VaeEncoderTransformer WithOutput(LatentOutput output, int? seed = null) => new(Model, ImageColumnName, LatentColumnName, output, seed ?? Seed, History);

    /// <summary>Decodes standardised latents (rows x latent size, row-major) to images in [0,1].</summary>
    public float[] Decode(float[] latents, int rows)
    {
        if (latents.Length != rows * Model.LatentSize)
            throw new ArgumentException($"Expected {rows} latents of {Model.LatentSize} floats ({rows * Model.LatentSize} values), got {latents.Length}.", nameof(latents));
        return Model.Decode(latents, rows);
    }

    /// <summary>Images decoded from raw latents drawn from the VAE prior N(0, I): the "VAE" row of the seed's FID table.</summary>
    public float[] SamplePrior(int count, int seed)
    {
        var result = new float[count * Model.ImageSize];
        using var generator = new Generator(unchecked((ulong)seed));
        for (int start = 0; start < count; start += 512)
        {
            int n = Math.Min(512, count - start);
            float[] z;
            using (var noise = randn([n, Model.LatentSize], generator: generator)) z = noise.data<float>().ToArray();
            Model.DecodeRaw(z, n, standardised: false).CopyTo(result, start * Model.ImageSize);
        }
        return result;
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
            var x = batch[..(filled * Model.ImageSize)];
            var y = Model.Decode(Model.Encode(x, filled), filled);
            for (int i = 0; i < x.Length; i++) total += (x[i] - y[i]) * (double)(x[i] - y[i]);
            count += x.Length;
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
    public bool IsRowToRowMapper => true;
    /// <inheritdoc/>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => new Mapper(this).OutputSchema(inputSchema);
    /// <inheritdoc/>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => new BatchRowMapper(inputSchema, new Mapper(this));
    /// <inheritdoc/>
    public IDataView Transform(IDataView input) => new BatchMappedDataView(input, new Mapper(this), this);

    void ICanSaveModel.Save(ModelSaveContext ctx) => MLNetInternals.Save(ctx, Format,
    [
        ("Settings.bin", w =>
        {
            w.Write(ImageColumnName); w.Write(LatentColumnName); w.Write((int)Output); w.Write(Seed);
            History.Write(w);
        }),
        ("Vae.weights", Model.Write),
    ]);

    private static VaeEncoderTransformer Create(IHostEnvironment env, object ctx)
    {
        string image = "", latent = "";
        var output = LatentOutput.Mean;
        int seed = 0;
        TrainingHistory history = new();
        VaeModel? model = null;
        var device = DeviceSelector.Resolve(ComputeDevice.Cpu);
        MLNetInternals.Load(ctx, Format, new Dictionary<string, Action<BinaryReader>>
        {
            ["Settings.bin"] = r =>
            {
                image = r.ReadString(); latent = r.ReadString(); output = (LatentOutput)r.ReadInt32(); seed = r.ReadInt32();
                history = TrainingHistory.Read(r);
            },
            ["Vae.weights"] = r => model = VaeModel.Read(r, device, "Vae.weights"),
        });
        return new VaeEncoderTransformer(model!, image, latent, output, seed, history);
    }

    private sealed class Mapper(VaeEncoderTransformer parent) : BatchMapper
    {
        private readonly OutputColumn[] outputs = [LatentColumn(parent.LatentColumnName, parent.Model.LatentShape)];
        public override IReadOnlyList<OutputColumn> Outputs => outputs;
        public override int BatchSize => 256;

        public override void Validate(DataViewSchema input) =>
            ColumnReader.RequireFloatVector(input, parent.ImageColumnName, "images to encode", parent.Model.ImageSize);

        public override IEnumerable<DataViewSchema.Column> Dependencies(DataViewSchema input) => [input[parent.ImageColumnName]];

        public override BatchReader CreateReader(DataViewRow row, int capacity) => new Reader(parent, row, capacity);

        private sealed class Reader(VaeEncoderTransformer parent, DataViewRow row, int capacity) : BatchReader
        {
            private readonly ValueGetter<VBuffer<float>> getter = row.GetGetter<VBuffer<float>>(row.Schema[parent.ImageColumnName]);
            private readonly float[] images = new float[capacity * parent.Model.ImageSize];
            private readonly long[] seeds = new long[capacity];
            private VBuffer<float> cell;

            public override void ReadRow(int slot, long position)
            {
                getter(ref cell);
                ColumnReader.CopyFinite(cell, images.AsSpan(slot * parent.Model.ImageSize, parent.Model.ImageSize), parent.ImageColumnName, position);
                seeds[slot] = ComponentSupport.RowSeed(parent.Seed, position);
            }

            public override void Compute(int rows, float[][] vectors, int[][] scalars)
            {
                if (rows == 0) return;
                var latents = parent.Model.Encode(images[..(rows * parent.Model.ImageSize)], rows,
                    parent.Output == LatentOutput.Sample ? seeds[..rows] : null);
                latents.CopyTo(vectors[0], 0);
            }
        }
    }
}
