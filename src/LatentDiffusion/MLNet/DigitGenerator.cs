using LatentDiffusion.Diffusion;
using LatentDiffusion.Models;
using LatentDiffusion.Runtime;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace LatentDiffusion.MLNet;

/// <summary>Options of <see cref="DigitGenerator"/>.</summary>
public sealed class DigitGeneratorOptions
{
    /// <summary>Optional integer label column of requests (-1 or absent = unconditional). Default "Label".</summary>
    public string LabelColumnName { get; set; } = "Label";
    /// <summary>Optional integer seed column; without it seeds come from <see cref="Seed"/> and the row position. Default "Seed".</summary>
    public string SeedColumnName { get; set; } = "Seed";
    /// <summary>Output: images as Vector&lt;Single, side*side&gt; in [0,1]. Default "GeneratedImage".</summary>
    public string OutputColumnName { get; set; } = "GeneratedImage";
    /// <summary>Sampler, steps, guidance and batch size. Default DDIM, 50 steps, guidance 1, batches of 256.</summary>
    public SamplingOptions Sampling { get; set; } = new();
    /// <summary>Seed used when the requests have no seed column. Default 1.</summary>
    public int Seed { get; set; } = 1;
    /// <summary>The fitted VAE to decode with; null takes the one fitted earlier in the same chain.</summary>
    public VaeEncoderTransformer? Vae { get; set; }
    /// <summary>The fitted diffusion model; null takes the one fitted earlier in the same chain.</summary>
    public LatentDiffusionTransformer? Diffusion { get; set; }
}

/// <summary>
/// Joins a fitted diffusion model and a fitted VAE into a generator of images. It learns nothing itself: in a chain
/// <c>EncodeToLatent(...).Append(TrainLatentDiffusion(...)).Append(GenerateDigits(...))</c> it picks up the two
/// models fitted before it; otherwise give them in the options.
/// </summary>
public sealed class DigitGenerator : IEstimator<DigitGeneratorTransformer>
{
    private readonly DigitGeneratorOptions options;

    /// <summary>Creates the estimator; prefer <c>mlContext.Transforms.GenerateDigits(...)</c>.</summary>
    public DigitGenerator(DigitGeneratorOptions? options = null)
    {
        this.options = options ?? new DigitGeneratorOptions();
    }

    /// <inheritdoc/>
    public DigitGeneratorTransformer Fit(IDataView input)
    {
        var lineage = (input as BatchMappedDataView)?.Lineage ?? [];
        var diffusion = options.Diffusion ?? lineage.OfType<LatentDiffusionTransformer>().LastOrDefault()
            ?? throw new InvalidOperationException("DigitGenerator needs a fitted diffusion model: append it directly after TrainLatentDiffusion in the same chain (no cache checkpoint or other transform between), or set DigitGeneratorOptions.Diffusion.");
        var vae = options.Vae ?? diffusion.SourceVae ?? lineage.OfType<VaeEncoderTransformer>().LastOrDefault()
            ?? throw new InvalidOperationException("DigitGenerator needs the fitted VAE that made the latents: chain EncodeToLatent before TrainLatentDiffusion, or set DigitGeneratorOptions.Vae.");
        return new DigitGeneratorTransformer(vae.Model, diffusion.Model, options.Sampling.Clone(), options.LabelColumnName, options.SeedColumnName, options.OutputColumnName, options.Seed);
    }

    /// <inheritdoc/>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        int size = options.Vae?.ImageSize ?? 784;
        return ComponentSupport.Append(inputSchema, [new OutputColumn(options.OutputColumnName, size)]);
    }
}

/// <summary>
/// Request rows (optional label, optional seed) to decoded images. Same seed and label, same image; requests stream
/// through in batches, so any number of rows can be generated with one batch in memory.
/// </summary>
public sealed class DigitGeneratorTransformer : ITransformer
{
    private static readonly HashSet<string> OptionalStreams =
        [SamplingOptions.GuidanceBandStream, SamplingOptions.PrecisionStream, SamplingOptions.AutoguidanceStream, DiffusionModel.GuideStream];
    internal static readonly ComponentFormat Format = new("LatDiffDigitGenerator", "LDDIGGEN", 4, typeof(DigitGeneratorTransformer), OldestReadable: 1);
    private readonly VaeModel vae;
    private readonly DiffusionModel diffusion;

    internal DigitGeneratorTransformer(VaeModel vae, DiffusionModel diffusion, SamplingOptions sampling, string labelColumn, string seedColumn, string outputColumn, int seed)
    {
        if (vae.LatentSize != diffusion.LatentSize)
            throw new ArgumentException($"The diffusion model makes latents of {diffusion.LatentSize} values but the VAE decodes {vae.LatentSize}.");
        diffusion.Validate(sampling);
        this.vae = vae;
        this.diffusion = diffusion;
        Sampling = sampling;
        LabelColumnName = labelColumn;
        SeedColumnName = seedColumn;
        OutputColumnName = outputColumn;
        Seed = seed;
    }

    /// <summary>How samples are drawn.</summary>
    public SamplingOptions Sampling { get; }
    /// <summary>Request label column (optional in the input).</summary>
    public string LabelColumnName { get; }
    /// <summary>Request seed column (optional in the input).</summary>
    public string SeedColumnName { get; }
    /// <summary>Output image column.</summary>
    public string OutputColumnName { get; }
    /// <summary>Seed used when the input has no seed column.</summary>
    public int Seed { get; }
    /// <summary>Number of digit classes (0 = unconditional model).</summary>
    public int Classes => diffusion.Classes;
    /// <summary>Analytic FLOPs of one denoiser forward pass for one sample (for achieved-GFLOP/s benchmarks).</summary>
    public double DenoiserFlops => diffusion.Network.ForwardFlops();
    /// <summary>Denoiser passes per generated image under <see cref="Sampling"/>: one per step, two on guided steps.</summary>
    public int NetworkEvaluationsPerSample => diffusion.NetworkEvaluations(Sampling);
    /// <summary>Autoguidance guide passes per generated image under <see cref="Sampling"/> (0 without autoguidance).</summary>
    public int GuideEvaluationsPerSample => diffusion.GuideEvaluations(Sampling);
    /// <summary>Width of the autoguidance guide UNet, 0 when the model has none.</summary>
    public int GuideWidth => diffusion.GuideWidth;
    /// <summary>Analytic FLOPs of sampling one latent under <see cref="Sampling"/>: all denoiser and guide passes.</summary>
    public double SamplingFlopsPerSample => diffusion.SamplingFlops(Sampling);
    /// <summary>Side of the generated square images.</summary>
    public int ImageSide => vae.Network.ImageSide;

    /// <summary>The same models with other sampling settings (sampler, steps, guidance, batch size).</summary>
    public DigitGeneratorTransformer WithSampling(SamplingOptions sampling) =>
        new(vae, diffusion, sampling.Clone(), LabelColumnName, SeedColumnName, OutputColumnName, Seed);

    /// <summary>Generates images directly: one per (label, seed); label -1 = unconditional. Returns rows x side*side floats.</summary>
    public float[] Generate(ReadOnlySpan<int> labels, ReadOnlySpan<long> seeds)
    {
        RequestValidation.Check(labels, seeds.Length, Classes, LabelColumnName);
        var images = new float[labels.Length * vae.ImageSize];
        for (int start = 0; start < labels.Length; start += Sampling.BatchSize)
        {
            int n = Math.Min(Sampling.BatchSize, labels.Length - start);
            GenerateBatch(labels.Slice(start, n).ToArray(), seeds.Slice(start, n).ToArray(), images.AsSpan(start * vae.ImageSize, n * vae.ImageSize));
        }
        return images;
    }

    /// <summary>
    /// The denoising trajectory for pictures: for each request, the image decoded from the predicted clean latent after
    /// each sampler step (steps x rows x side*side floats), ending with the final sample.
    /// </summary>
    public float[][] Trajectory(ReadOnlySpan<int> labels, ReadOnlySpan<long> seeds)
    {
        RequestValidation.Check(labels, seeds.Length, Classes, LabelColumnName);
        var steps = new List<float[]>();
        diffusion.Sample(labels, seeds, Sampling, steps);
        int rows = labels.Length;
        return steps.Select(latents => vae.Decode(latents, rows)).ToArray();
    }

    private void GenerateBatch(int[] labels, long[] seeds, Span<float> destination)
    {
        var latents = diffusion.Sample(labels, seeds, Sampling);
        vae.Decode(latents, labels.Length).CopyTo(destination);
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
        [new OutputColumn(OutputColumnName, vae.ImageSize)],
        (labels, seeds, output) => GenerateBatch(labels, seeds, output));

    void ICanSaveModel.Save(ModelSaveContext ctx) => MLNetInternals.Save(ctx, Format,
    [
        ("Settings.bin", w =>
        {
            w.Write(LabelColumnName); w.Write(SeedColumnName); w.Write(OutputColumnName); w.Write(Seed);
            Sampling.Write(w);
        }),
        ("Vae.weights", vae.Write),
        (SamplingOptions.GuidanceBandStream, Sampling.WriteGuidanceBand),
        (SamplingOptions.PrecisionStream, Sampling.WritePrecision),
        (SamplingOptions.AutoguidanceStream, Sampling.WriteAutoguidance),
        ("Denoiser.weights", diffusion.Write),
        .. diffusion.GuideStreams(),
    ]);

    private static DigitGeneratorTransformer Create(IHostEnvironment env, object ctx)
    {
        string label = "", seedColumn = "", output = "";
        int seed = 0;
        SamplingOptions sampling = new();
        VaeModel? vae = null;
        DiffusionModel? diffusion = null;
        var device = DeviceSelector.Resolve(ComputeDevice.Cpu);
        MLNetInternals.Load(ctx, Format, new Dictionary<string, Action<BinaryReader>>
        {
            ["Settings.bin"] = r =>
            {
                label = r.ReadString(); seedColumn = r.ReadString(); output = r.ReadString(); seed = r.ReadInt32();
                sampling = SamplingOptions.Read(r);
            },
            ["Vae.weights"] = r => vae = VaeModel.Read(r, device, "Vae.weights"),
            [SamplingOptions.GuidanceBandStream] = r => sampling.ReadGuidanceBand(r),
            [SamplingOptions.PrecisionStream] = r => sampling.ReadPrecision(r),
            [SamplingOptions.AutoguidanceStream] = r => sampling.ReadAutoguidance(r),
            ["Denoiser.weights"] = r => diffusion = DiffusionModel.Read(r, device, "Denoiser.weights"),
            // Read after the denoiser, whose latent shape and classes it shares.
            [DiffusionModel.GuideStream] = r => diffusion!.ReadGuide(r),
        }, OptionalStreams);
        return new DigitGeneratorTransformer(vae!, diffusion!, sampling, label, seedColumn, output, seed);
    }
}
