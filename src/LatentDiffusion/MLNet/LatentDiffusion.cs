using LatentDiffusion.Diffusion;
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

/// <summary>Options of <see cref="LatentDiffusionTrainer"/>.</summary>
public sealed class LatentDiffusionOptions : TrainingOptions
{
    /// <summary>Input: latents to learn (a known-size vector of Single). Default "Latent".</summary>
    public string LatentColumnName { get; set; } = "Latent";
    /// <summary>Optional integer class column (0..Classes-1); null trains an unconditional model. Default "Label".</summary>
    public string? LabelColumnName { get; set; } = "Label";
    /// <summary>Number of classes when a label column is used. Default 10.</summary>
    public int Classes { get; set; } = 10;
    /// <summary>Latent shape (channels, height, width); null reads it from the latent column's <see cref="VaeEncoderTransformer.LatentShapeAnnotation"/>.</summary>
    public int[]? LatentShape { get; set; }
    /// <summary>Diffusion steps T. Default 1000.</summary>
    public int Timesteps { get; set; } = 1000;
    /// <summary>Noise schedule. Default linear (seed 000).</summary>
    public NoiseScheduleKind Schedule { get; set; } = NoiseScheduleKind.Linear;
    /// <summary>Prediction target and loss. Default epsilon with MSE.</summary>
    public DiffusionObjective Objective { get; set; } = DiffusionObjective.Epsilon;
    /// <summary>Min-SNR loss weighting (Hang et al.) for the epsilon and velocity objectives: each timestep's loss counts as an
    /// x0 error weighted by min(SNR, gamma). 0 turns it off. Default 0.</summary>
    public double MinSnrGamma { get; set; }
    /// <summary>UNet width (channels at full resolution; doubled below). Default 48.</summary>
    public int Width { get; set; } = 48;
    /// <summary>Training epochs. Default 20.</summary>
    public int Epochs { get; set; } = 20;
    /// <summary>
    /// Width of the autoguidance guide: a second, smaller UNet trained on the same latents for <see cref="GuideEpochs"/>
    /// after the main one, whose errors <see cref="SamplingOptions.AutoguidanceScale"/> steers samples away from.
    /// It should be well below <see cref="Width"/>. 0 trains no guide. Default 0.
    /// </summary>
    public int GuideWidth { get; set; }
    /// <summary>Training epochs of the guide (a guide should be clearly weaker than the main UNet). Default 6.</summary>
    public int GuideEpochs { get; set; } = 6;
    /// <summary>EMA decay of the sampling weights. Default 0.999.</summary>
    public double EmaDecay { get; set; } = 0.999;
    /// <summary>Probability of replacing a label by "none" in training (enables unconditional and guided sampling). Default 0.1.</summary>
    public double LabelDropout { get; set; } = 0.1;
    /// <summary>Share of rows held out for the validation loss. Default 0.02.</summary>
    public double ValidationFraction { get; set; } = 0.02;
    /// <summary>How the fitted transformer samples.</summary>
    public SamplingOptions Sampling { get; set; } = new();
    /// <summary>Output column of sampled latents. Default "GeneratedLatent".</summary>
    public string OutputColumnName { get; set; } = "GeneratedLatent";
    /// <summary>Optional integer seed column of requests; without it, seeds come from <see cref="TrainingOptions.Seed"/> and the row position. Default "Seed".</summary>
    public string SeedColumnName { get; set; } = "Seed";
}

/// <summary>
/// Trains a DDPM denoiser (UNet with sinusoidal time embedding and class embedding with label dropout) on a latent
/// column. The fitted <see cref="LatentDiffusionTransformer"/> turns request rows (optional label, optional seed)
/// into sampled latents.
/// </summary>
public sealed class LatentDiffusionTrainer : IEstimator<LatentDiffusionTransformer>
{
    private readonly MLContext? context;
    private readonly LatentDiffusionOptions options;

    /// <summary>Creates the trainer; prefer <c>mlContext.Transforms.TrainLatentDiffusion(...)</c>.</summary>
    public LatentDiffusionTrainer(MLContext? context, LatentDiffusionOptions? options = null)
    {
        this.context = context;
        this.options = options ?? new LatentDiffusionOptions();
        var o = this.options;
        if (o.Timesteps < 2 || o.Width < 8 || o.Epochs < 1 || o.BatchSize < 1 || !(o.LearningRate > 0) || o.EmaDecay is < 0 or >= 1
            || o.LabelDropout is < 0 or > 1 || !(o.MinSnrGamma >= 0) || o.ValidationFraction is < 0 or >= 1 || (o.LabelColumnName is not null && o.Classes < 1))
            throw new ArgumentOutOfRangeException(nameof(options), "LatentDiffusionOptions: Timesteps >= 2, Width >= 8, Epochs and BatchSize >= 1, LearningRate > 0, EmaDecay in [0,1), LabelDropout in [0,1], MinSnrGamma >= 0, ValidationFraction in [0,1), Classes >= 1.");
        if (o.GuideWidth != 0 && (o.GuideWidth < 8 || o.GuideEpochs < 1))
            throw new ArgumentOutOfRangeException(nameof(options.GuideWidth), o.GuideWidth, $"LatentDiffusionOptions.GuideWidth must be 0 (no guide) or >= 8 with GuideEpochs >= 1 (got GuideEpochs {o.GuideEpochs}).");
        o.ValidateShared(nameof(LatentDiffusionOptions));
        o.Sampling.Validate(o.Timesteps);
        if (o.Sampling.AutoguidanceScale != 1 && o.GuideWidth == 0)
            throw new ArgumentOutOfRangeException(nameof(options.Sampling.AutoguidanceScale), o.Sampling.AutoguidanceScale,
                "LatentDiffusionOptions.Sampling.AutoguidanceScale differs from 1 but GuideWidth is 0: autoguidance needs a guide UNet.");
    }

    /// <inheritdoc/>
    public LatentDiffusionTransformer Fit(IDataView input)
    {
        int size = ColumnReader.RequireFloatVector(input.Schema, options.LatentColumnName, "latents to learn");
        var shape = options.LatentShape ?? ReadShape(input.Schema);
        if (shape.Length != 3 || shape.Any(d => d < 1) || shape[0] * shape[1] * shape[2] != size || shape[1] != shape[2])
            throw new ArgumentOutOfRangeException(options.LatentColumnName, $"Column '{options.LatentColumnName}': latent shape [{string.Join(", ", shape)}] must be (channels, side, side) with {size} values in total.");
        int classes = options.LabelColumnName is null ? 0 : options.Classes;
        if (options.LabelColumnName is not null) ColumnReader.RequireInteger(input.Schema, options.LabelColumnName, "class labels");
        var (latents, labels, rows) = ColumnReader.ReadAll(input, options.LatentColumnName, size, options.LabelColumnName, classes, options.CancellationToken);

        using var log = new ComponentLogger(context, options.Logger, nameof(LatentDiffusionTrainer));
        var device = DeviceSelector.Resolve(options.Device);
        torch.manual_seed(options.Seed);
        var network = new DenoisingUnet(shape[0], shape[1], options.Width, classes).to(device);
        var ema = new DenoisingUnet(shape[0], shape[1], options.Width, classes).to(device);
        // The guide's modules exist outside the dispose scope below (which would free their weights), and take their
        // own initialisation seed so that the main UNet does not depend on whether a guide follows.
        DenoisingUnet? guideNetwork = null, guide = null;
        if (options.GuideWidth > 0)
        {
            torch.manual_seed(options.Seed + 1);
            guideNetwork = new DenoisingUnet(shape[0], shape[1], options.GuideWidth, classes).to(device);
            guide = new DenoisingUnet(shape[0], shape[1], options.GuideWidth, classes).to(device);
        }
        int validationRows = (int)(rows * options.ValidationFraction);
        int trainRows = rows - validationRows;
        log.LogInformation("Training the latent diffusion UNet (width {Width}, {Parameters} parameters, {Schedule} schedule, {Objective}) on {Rows} latents of [{Shape}] for {Epochs} epochs",
            options.Width, network.parameters().Sum(p => p.numel()), options.Schedule, options.Objective, trainRows, string.Join("x", shape), options.Epochs);
        var schedule = new NoiseSchedule(options.Schedule, options.Timesteps);
        TrainingHistory history;
        TrainingHistory guideHistory = new();
        using (var scope = NewDisposeScope())
        {
            var all = tensor(latents, [rows, shape[0], shape[1], shape[2]]);
            var y = labels is null ? null : tensor(labels.Select(l => (long)l).ToArray());
            var (trainX, trainY) = (all.narrow(0, 0, trainRows).to(device), y?.narrow(0, 0, trainRows).to(device));
            var (validX, validY) = (all.narrow(0, trainRows, validationRows).to(device), y?.narrow(0, trainRows, validationRows).to(device));
            history = DiffusionTraining.Train(network, ema, schedule, options.Objective, trainX, trainY, validX, validY,
                options.LabelDropout, options.EmaDecay, options.MinSnrGamma,
                options.Loop("diffusion", trainRows, options.Epochs, log), options.CancellationToken);
            if (guideNetwork is not null && guide is not null)
            {
                log.LogInformation("Training the autoguidance guide UNet (width {Width}, {Parameters} parameters) for {Epochs} epochs",
                    options.GuideWidth, guideNetwork.parameters().Sum(p => p.numel()), options.GuideEpochs);
                guideHistory = DiffusionTraining.Train(guideNetwork, guide, schedule, options.Objective, trainX, trainY, validX, validY,
                    options.LabelDropout, options.EmaDecay, options.MinSnrGamma,
                    options.Loop("guide", trainRows, options.GuideEpochs, log), options.CancellationToken);
            }
        }
        network.Dispose();
        guideNetwork?.Dispose();
        var model = new DiffusionModel(ema, options.Schedule, options.Timesteps, options.Objective, shape, options.Width, device);
        if (guide is not null) model.AttachGuide(guide, options.GuideWidth, guideHistory);
        var upstreamVae = (input as BatchMappedDataView)?.Lineage.OfType<VaeEncoderTransformer>().LastOrDefault();
        return new LatentDiffusionTransformer(model, options.Sampling.Clone(), options.LabelColumnName ?? options.LatentColumnName, options.LabelColumnName is not null,
            options.SeedColumnName, options.OutputColumnName, options.Seed, history) { SourceVae = upstreamVae };
    }

    private int[] ReadShape(DataViewSchema schema)
    {
        var column = schema[options.LatentColumnName];
        if (column.Annotations.Schema.GetColumnOrNull(VaeEncoderTransformer.LatentShapeAnnotation) is not { } annotation)
            throw new ArgumentOutOfRangeException(options.LatentColumnName, $"Column '{options.LatentColumnName}' carries no '{VaeEncoderTransformer.LatentShapeAnnotation}' annotation; set LatentDiffusionOptions.LatentShape (channels, side, side).");
        VBuffer<int> value = default;
        column.Annotations.GetValue(VaeEncoderTransformer.LatentShapeAnnotation, ref value);
        return value.DenseValues().ToArray();
    }

    /// <inheritdoc/>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ComponentSupport.RequireFloatVectorShape(inputSchema, options.LatentColumnName, "latents to learn");
        if (options.LabelColumnName is not null) ComponentSupport.RequireIntegerShape(inputSchema, options.LabelColumnName, "class labels");
        var shape = options.LatentShape ?? [1, 1, 1];
        return ComponentSupport.Append(inputSchema, [new OutputColumn(options.OutputColumnName, shape[0] * shape[1] * shape[2])]);
    }
}

/// <summary>
/// The fitted diffusion model: request rows (optional label column, -1 = unconditional; optional seed column) to
/// sampled standardised latents, streamed in batches.
/// </summary>
public sealed class LatentDiffusionTransformer : ITransformer
{
    private static readonly HashSet<string> OptionalStreams =
        [SamplingOptions.GuidanceBandStream, SamplingOptions.PrecisionStream, SamplingOptions.AutoguidanceStream, DiffusionModel.GuideStream];
    internal static readonly ComponentFormat Format = new("LatDiffDenoiser", "LDDIFFUS", 4, typeof(LatentDiffusionTransformer), OldestReadable: 1);

    internal LatentDiffusionTransformer(DiffusionModel model, SamplingOptions sampling, string labelColumn, bool conditional,
        string seedColumn, string outputColumn, int seed, TrainingHistory history)
    {
        model.Validate(sampling);
        Model = model;
        Sampling = sampling;
        LabelColumnName = conditional ? labelColumn : null;
        SeedColumnName = seedColumn;
        OutputColumnName = outputColumn;
        Seed = seed;
        History = history;
    }

    internal DiffusionModel Model { get; }
    internal VaeEncoderTransformer? SourceVae { get; init; }
    /// <summary>How samples are drawn (a copy; use <see cref="WithSampling"/> to change).</summary>
    public SamplingOptions Sampling { get; }
    /// <summary>Request label column, or null for an unconditional model.</summary>
    public string? LabelColumnName { get; }
    /// <summary>Request seed column (optional in the input).</summary>
    public string SeedColumnName { get; }
    /// <summary>Output latent column.</summary>
    public string OutputColumnName { get; }
    /// <summary>Seed used when the input has no seed column.</summary>
    public int Seed { get; }
    /// <summary>Per-epoch losses.</summary>
    public TrainingHistory History { get; }
    /// <summary>Per-epoch losses of the autoguidance guide (empty when none was trained).</summary>
    public TrainingHistory GuideHistory => Model.GuideHistory;
    /// <summary>Width of the autoguidance guide UNet, 0 when none was trained.</summary>
    public int GuideWidth => Model.GuideWidth;
    /// <summary>Latent shape (channels, height, width).</summary>
    public IReadOnlyList<int> LatentShape => Model.LatentShape;
    /// <summary>Number of classes (0 = unconditional).</summary>
    public int Classes => Model.Classes;

    /// <summary>The same model with other sampling settings.</summary>
    public LatentDiffusionTransformer WithSampling(SamplingOptions sampling) =>
        new(Model, sampling.Clone(), LabelColumnName ?? "", LabelColumnName is not null, SeedColumnName, OutputColumnName, Seed, History) { SourceVae = SourceVae };

    /// <summary>Samples latents directly: one per (label, seed); label -1 = unconditional.</summary>
    public float[] SampleLatents(ReadOnlySpan<int> labels, ReadOnlySpan<long> seeds)
    {
        RequestValidation.Check(labels, seeds.Length, Classes, LabelColumnName ?? "label");
        return Model.Sample(labels, seeds, Sampling);
    }

    /// <inheritdoc/>
    public bool IsRowToRowMapper => true;
    /// <inheritdoc/>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => CreateMapper().OutputSchema(inputSchema);
    /// <inheritdoc/>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => new BatchRowMapper(inputSchema, CreateMapper());
    /// <inheritdoc/>
    public IDataView Transform(IDataView input) => new BatchMappedDataView(input, CreateMapper(), this);

    private RequestMapper CreateMapper() => new(LabelColumnName, SeedColumnName, Seed, Classes, Sampling.BatchSize,
        [new OutputColumn(OutputColumnName, Model.LatentSize)],
        (labels, seeds, output) => Model.Sample(labels, seeds, Sampling).CopyTo(output, 0));

    void ICanSaveModel.Save(ModelSaveContext ctx) => MLNetInternals.Save(ctx, Format,
    [
        ("Settings.bin", w =>
        {
            w.Write(LabelColumnName ?? ""); w.Write(LabelColumnName is not null); w.Write(SeedColumnName); w.Write(OutputColumnName); w.Write(Seed);
            Sampling.Write(w);
            History.Write(w);
        }),
        (SamplingOptions.GuidanceBandStream, Sampling.WriteGuidanceBand),
        (SamplingOptions.PrecisionStream, Sampling.WritePrecision),
        (SamplingOptions.AutoguidanceStream, Sampling.WriteAutoguidance),
        ("Denoiser.weights", Model.Write),
        .. Model.GuideStreams(),
    ]);

    private static LatentDiffusionTransformer Create(IHostEnvironment env, object ctx)
    {
        string label = "", seedColumn = "", output = "";
        bool conditional = false;
        int seed = 0;
        SamplingOptions sampling = new();
        TrainingHistory history = new();
        DiffusionModel? model = null;
        var device = DeviceSelector.Resolve(ComputeDevice.Cpu);
        MLNetInternals.Load(ctx, Format, new Dictionary<string, Action<BinaryReader>>
        {
            ["Settings.bin"] = r =>
            {
                label = r.ReadString(); conditional = r.ReadBoolean(); seedColumn = r.ReadString(); output = r.ReadString(); seed = r.ReadInt32();
                sampling = SamplingOptions.Read(r);
                history = TrainingHistory.Read(r);
            },
            [SamplingOptions.GuidanceBandStream] = r => sampling.ReadGuidanceBand(r),
            [SamplingOptions.PrecisionStream] = r => sampling.ReadPrecision(r),
            [SamplingOptions.AutoguidanceStream] = r => sampling.ReadAutoguidance(r),
            ["Denoiser.weights"] = r => model = DiffusionModel.Read(r, device, "Denoiser.weights"),
            // Read after the denoiser, whose latent shape and classes it shares.
            [DiffusionModel.GuideStream] = r => model!.ReadGuide(r),
        }, OptionalStreams);
        return new LatentDiffusionTransformer(model!, sampling, label, conditional, seedColumn, output, seed, history);
    }
}

/// <summary>Checks generation requests before any sampling.</summary>
internal static class RequestValidation
{
    public static void Check(ReadOnlySpan<int> labels, int seeds, int classes, string column)
    {
        if (labels.Length != seeds) throw new ArgumentException($"Got {labels.Length} labels but {seeds} seeds; give one of each per request.");
        foreach (var label in labels) CheckLabel(label, classes, column, -1);
    }

    public static void CheckLabel(long label, int classes, string column, long row)
    {
        if (label < -1 || label >= classes)
        {
            string where = row >= 0 ? $", row {row}" : "";
            string range = classes > 0 ? $"0..{classes - 1}, or -1 for an unconditional sample" : "-1 only (the model is unconditional)";
            throw new ArgumentOutOfRangeException(column, $"Column '{column}'{where}: label {label} is outside the declared range {range}.");
        }
    }
}

/// <summary>
/// Reads generation requests (optional label column, optional seed column) in batches and hands them to a sampling
/// function; shared by <see cref="LatentDiffusionTransformer"/> and <see cref="DigitGeneratorTransformer"/>.
/// </summary>
internal sealed class RequestMapper(string? labelColumn, string seedColumn, int seed, int classes, int batchSize,
    OutputColumn[] outputs, Action<int[], long[], float[]> sample) : BatchMapper
{
    public override IReadOnlyList<OutputColumn> Outputs => outputs;
    public override int BatchSize => batchSize;
    private string? LabelColumn => labelColumn;
    private string SeedColumn => seedColumn;
    private int Seed => seed;
    private int Classes => classes;
    private OutputColumn[] OutputList => outputs;
    private void SampleBatch(int[] labels, long[] seeds, float[] output) => sample(labels, seeds, output);

    public override void Validate(DataViewSchema input)
    {
        if (labelColumn is not null && input.GetColumnOrNull(labelColumn) is not null)
            ColumnReader.RequireInteger(input, labelColumn, "requested digit labels");
        if (input.GetColumnOrNull(seedColumn) is not null)
            ColumnReader.RequireInteger(input, seedColumn, "request seeds");
    }

    public override IEnumerable<DataViewSchema.Column> Dependencies(DataViewSchema input)
    {
        if (labelColumn is not null && input.GetColumnOrNull(labelColumn) is { } l) yield return l;
        if (input.GetColumnOrNull(seedColumn) is { } s) yield return s;
    }

    public override BatchReader CreateReader(DataViewRow row, int capacity) => new Reader(this, row, capacity);

    private sealed class Reader : BatchReader
    {
        private readonly RequestMapper parent;
        private readonly Func<long>? label, seedGetter;
        private readonly int[] labels;
        private readonly long[] seeds;
        private readonly float[] buffer;

        public Reader(RequestMapper parent, DataViewRow row, int capacity)
        {
            this.parent = parent;
            if (parent.LabelColumn is not null && row.Schema.GetColumnOrNull(parent.LabelColumn) is { } l) label = ColumnReader.IntegerGetter(row, l);
            if (row.Schema.GetColumnOrNull(parent.SeedColumn) is { } s) seedGetter = ColumnReader.IntegerGetter(row, s);
            labels = new int[capacity];
            seeds = new long[capacity];
            buffer = new float[capacity * parent.OutputList[0].Size];
        }

        public override void ReadRow(int slot, long position)
        {
            long value = label?.Invoke() ?? -1;
            RequestValidation.CheckLabel(value, parent.Classes, parent.LabelColumn ?? "Label", position);
            labels[slot] = (int)value;
            seeds[slot] = seedGetter?.Invoke() ?? ComponentSupport.RowSeed(parent.Seed, position);
        }

        public override void Compute(int rows, float[][] vectors, int[][] scalars)
        {
            if (rows == 0) return;
            var output = rows == labels.Length ? buffer : new float[rows * parent.OutputList[0].Size];
            parent.SampleBatch(labels[..rows], seeds[..rows], output);
            output.AsSpan(0, rows * parent.OutputList[0].Size).CopyTo(vectors[0]);
        }
    }
}
