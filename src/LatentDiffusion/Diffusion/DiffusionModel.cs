using TorchSharp;
using LatentDiffusion.MLNet.Persistence;
using LatentDiffusion.Models;
using LatentDiffusion.Training;
using static TorchSharp.torch;

namespace LatentDiffusion.Diffusion;

/// <summary>The number format the denoiser runs in while sampling.</summary>
public enum SamplingPrecision
{
    /// <summary>float32 throughout (default).</summary>
    Float32,
    /// <summary>
    /// The denoiser's weights and activations in bfloat16 (a copy made once per model); the sampler's update, the noise
    /// and the time embedding stay float32. Faster on CPUs with bfloat16 instructions (AVX-512 BF16, AMX) and on recent GPUs.
    /// </summary>
    BFloat16,
}

/// <summary>How to draw samples from a trained diffusion model.</summary>
public sealed class SamplingOptions
{
    /// <summary>The reverse process. Default DDIM.</summary>
    public SamplerKind Sampler { get; set; } = SamplerKind.Ddim;

    /// <summary>Number of denoising steps, 1..T. Default 50.</summary>
    public int Steps { get; set; } = 50;

    /// <summary>DDIM stochasticity (0 = deterministic). Default 0.</summary>
    public double Eta { get; set; }

    /// <summary>DDPM step variance. Default beta-tilde.</summary>
    public DdpmVariance Variance { get; set; } = DdpmVariance.BetaTilde;

    /// <summary>Classifier-free guidance: 0 = unconditional, 1 = conditional (one network pass per step), above 1 = stronger conditioning (two passes). Default 1.</summary>
    public double GuidanceScale { get; set; } = 1.0;

    /// <summary>
    /// Where guidance applies, as a band of noise levels t/T (1 = pure noise, 0 = clean): steps outside
    /// [<see cref="GuidanceMinNoise"/>, <see cref="GuidanceMaxNoise"/>] take the conditional prediction alone (one network
    /// pass instead of two). Guidance matters most at the middle noise levels where the digit's identity forms
    /// (Kynkaanniemi et al., "Applying guidance in a limited interval"). Ignored at scales 0 and 1. Default 0 to 1: every step.
    /// </summary>
    public double GuidanceMinNoise { get; set; }

    /// <summary>Upper end of the guidance band; see <see cref="GuidanceMinNoise"/>. Default 1.</summary>
    public double GuidanceMaxNoise { get; set; } = 1.0;

    /// <summary>
    /// Autoguidance (Karras et al. 2024, "Guiding a diffusion model with a bad version of itself"): each step's prediction
    /// becomes g + a (d - g), where d is the denoiser's and g the guide's (a smaller, shorter-trained denoiser trained with
    /// it; <see cref="MLNet.LatentDiffusionOptions.GuideWidth"/>), so that samples move away from the guide's typical
    /// errors. Costs one guide pass per step it applies to (see <see cref="AutoguidanceMinNoise"/>), and combines with
    /// classifier-free guidance. 1 = off. Default 1.
    /// </summary>
    public double AutoguidanceScale { get; set; } = 1.0;

    /// <summary>
    /// Where autoguidance applies, as a band of noise levels t/T like the guidance band: steps outside
    /// [<see cref="AutoguidanceMinNoise"/>, <see cref="AutoguidanceMaxNoise"/>] skip the guide. Default 0 to 1: every step.
    /// </summary>
    public double AutoguidanceMinNoise { get; set; }

    /// <summary>Upper end of the autoguidance band; see <see cref="AutoguidanceMinNoise"/>. Default 1.</summary>
    public double AutoguidanceMaxNoise { get; set; } = 1.0;

    /// <summary>Number format of the denoiser while sampling. Default float32.</summary>
    public SamplingPrecision Precision { get; set; } = SamplingPrecision.Float32;

    /// <summary>Requests per network batch. Default 256.</summary>
    public int BatchSize { get; set; } = 256;

    /// <summary>A copy.</summary>
    public SamplingOptions Clone() => (SamplingOptions)MemberwiseClone();

    internal void Validate(int timesteps)
    {
        if (Steps < 1 || Steps > timesteps)
            throw new ArgumentOutOfRangeException(nameof(Steps), Steps, $"SamplingOptions.Steps must be between 1 and the schedule's {timesteps} timesteps.");
        if (!double.IsFinite(GuidanceScale) || GuidanceScale < 0)
            throw new ArgumentOutOfRangeException(nameof(GuidanceScale), GuidanceScale, "SamplingOptions.GuidanceScale must be a finite number >= 0.");
        if (!double.IsFinite(Eta) || Eta < 0)
            throw new ArgumentOutOfRangeException(nameof(Eta), Eta, "SamplingOptions.Eta must be a finite number >= 0.");
        if (!(GuidanceMinNoise >= 0 && GuidanceMinNoise <= GuidanceMaxNoise && GuidanceMaxNoise <= 1))
            throw new ArgumentOutOfRangeException(nameof(GuidanceMinNoise), $"[{GuidanceMinNoise}, {GuidanceMaxNoise}]", "SamplingOptions guidance band must satisfy 0 <= GuidanceMinNoise <= GuidanceMaxNoise <= 1.");
        if (!double.IsFinite(AutoguidanceScale) || AutoguidanceScale < 1)
            throw new ArgumentOutOfRangeException(nameof(AutoguidanceScale), AutoguidanceScale, "SamplingOptions.AutoguidanceScale must be a finite number >= 1 (1 = off).");
        if (!(AutoguidanceMinNoise >= 0 && AutoguidanceMinNoise <= AutoguidanceMaxNoise && AutoguidanceMaxNoise <= 1))
            throw new ArgumentOutOfRangeException(nameof(AutoguidanceMinNoise), $"[{AutoguidanceMinNoise}, {AutoguidanceMaxNoise}]", "SamplingOptions autoguidance band must satisfy 0 <= AutoguidanceMinNoise <= AutoguidanceMaxNoise <= 1.");
        if (BatchSize < 1)
            throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "SamplingOptions.BatchSize must be at least 1.");
        if (!Enum.IsDefined(Sampler)) throw new ArgumentOutOfRangeException(nameof(Sampler), Sampler, "Unknown sampler.");
        if (!Enum.IsDefined(Precision)) throw new ArgumentOutOfRangeException(nameof(Precision), Precision, "Unknown sampling precision.");
    }

    internal void Write(BinaryWriter w)
    {
        w.Write((int)Sampler); w.Write(Steps); w.Write(Eta); w.Write((int)Variance); w.Write(GuidanceScale); w.Write(BatchSize);
    }

    /// <summary>
    /// The guidance scale in force at timestep <paramref name="t"/> of <paramref name="timesteps"/>: <see cref="GuidanceScale"/>
    /// inside the band (noise level (t + 1) / T), 1 (conditional only) outside; scale 0 holds everywhere.
    /// </summary>
    internal double GuidanceAt(int t, int timesteps) =>
        GuidanceScale == 0 || InBand(t, timesteps, GuidanceMinNoise, GuidanceMaxNoise) ? GuidanceScale : 1;

    /// <summary>The autoguidance scale in force at timestep <paramref name="t"/>: <see cref="AutoguidanceScale"/> inside its band, 1 (off) outside.</summary>
    internal double AutoguidanceAt(int t, int timesteps) =>
        InBand(t, timesteps, AutoguidanceMinNoise, AutoguidanceMaxNoise) ? AutoguidanceScale : 1;

    /// <summary>Whether timestep <paramref name="t"/> of <paramref name="timesteps"/> has its noise level (t + 1) / T in [low, high].</summary>
    private static bool InBand(int t, int timesteps, double low, double high)
    {
        double noiseLevel = (t + 1.0) / timesteps;
        return noiseLevel >= low && noiseLevel <= high;
    }

    /// <summary>Name of the model-zip stream holding the guidance band (added in format version 2, optional when reading).</summary>
    internal const string GuidanceBandStream = "Guidance.bin";

    /// <summary>The guidance band, in its own stream since format version 2 (files of version 1 keep the default band, every step).</summary>
    internal void WriteGuidanceBand(BinaryWriter w)
    {
        w.Write(GuidanceMinNoise); w.Write(GuidanceMaxNoise);
    }

    internal void ReadGuidanceBand(BinaryReader r)
    {
        GuidanceMinNoise = r.ReadDouble(); GuidanceMaxNoise = r.ReadDouble();
    }

    /// <summary>Name of the model-zip stream holding the precision (added in format version 3, optional when reading: older files sample in float32).</summary>
    internal const string PrecisionStream = "Precision.bin";

    internal void WritePrecision(BinaryWriter w) => w.Write((int)Precision);

    internal void ReadPrecision(BinaryReader r)
    {
        Precision = (SamplingPrecision)r.ReadInt32();
        if (!Enum.IsDefined(Precision)) throw new InvalidDataException($"'{PrecisionStream}' holds an unknown sampling precision {(int)Precision}.");
    }

    /// <summary>Name of the model-zip stream holding the autoguidance scale (added in format version 4, optional when reading: older files have no guide).</summary>
    internal const string AutoguidanceStream = "Autoguidance.bin";

    internal void WriteAutoguidance(BinaryWriter w)
    {
        w.Write(AutoguidanceScale); w.Write(AutoguidanceMinNoise); w.Write(AutoguidanceMaxNoise);
    }

    internal void ReadAutoguidance(BinaryReader r)
    {
        AutoguidanceScale = r.ReadDouble(); AutoguidanceMinNoise = r.ReadDouble(); AutoguidanceMaxNoise = r.ReadDouble();
    }

    internal static SamplingOptions Read(BinaryReader r) => new()
    {
        Sampler = (SamplerKind)r.ReadInt32(), Steps = r.ReadInt32(), Eta = r.ReadDouble(), Variance = (DdpmVariance)r.ReadInt32(),
        GuidanceScale = r.ReadDouble(), BatchSize = r.ReadInt32(),
    };
}

/// <summary>
/// A trained denoiser (its EMA weights) with its schedule and objective, and optionally a guide denoiser for
/// autoguidance; samples standardised latents.
/// </summary>
internal sealed class DiffusionModel
{
    private readonly object gate = new();
    private DenoisingUnet? bfloat16Network, bfloat16Guide;

    public DiffusionModel(DenoisingUnet network, NoiseScheduleKind scheduleKind, int timesteps, DiffusionObjective objective, int[] latentShape, int width, Device device)
    {
        Network = network;
        Schedule = new NoiseSchedule(scheduleKind, timesteps);
        Objective = objective;
        LatentShape = latentShape;
        Width = width;
        Device = device;
        network.eval();
    }

    public DenoisingUnet Network { get; }
    /// <summary>The autoguidance guide: a smaller, shorter-trained denoiser of the same latents and classes; null when none was trained.</summary>
    public DenoisingUnet? Guide { get; private set; }
    public int GuideWidth { get; private set; }
    /// <summary>The guide's per-epoch losses (empty without a guide).</summary>
    public TrainingHistory GuideHistory { get; private set; } = new();
    public NoiseSchedule Schedule { get; }
    public DiffusionObjective Objective { get; }
    public int[] LatentShape { get; }
    public int LatentSize => LatentShape.Aggregate(1, (a, b) => a * b);
    public int Width { get; }
    public int Classes => Network.Classes;
    public Device Device { get; }

    /// <summary>Attaches the autoguidance guide (once, before any sampling).</summary>
    public void AttachGuide(DenoisingUnet guide, int width, TrainingHistory history)
    {
        if (Guide is not null) throw new InvalidOperationException("The diffusion model already has a guide.");
        if (guide.Classes != Classes) throw new ArgumentException($"The guide knows {guide.Classes} classes, the denoiser {Classes}.", nameof(guide));
        Guide = guide;
        GuideWidth = width;
        GuideHistory = history;
        guide.eval();
    }

    /// <summary>Checks <paramref name="options"/> against this model: the sampler's own rules, and a guide for autoguidance.</summary>
    public void Validate(SamplingOptions options)
    {
        options.Validate(Schedule.Timesteps);
        if (options.AutoguidanceScale != 1 && Guide is null)
            throw new ArgumentOutOfRangeException(nameof(options.AutoguidanceScale), options.AutoguidanceScale,
                "SamplingOptions.AutoguidanceScale differs from 1 but the model has no guide denoiser: train it with LatentDiffusionOptions.GuideWidth > 0, or set the scale to 1.");
    }

    /// <summary>
    /// Samples one standardised latent per request (label -1 = unconditional). <paramref name="trajectory"/>, when
    /// given, receives the predicted clean latent after each step ([steps][rows * latentSize]).
    /// </summary>
    public float[] Sample(ReadOnlySpan<int> labels, ReadOnlySpan<long> seeds, SamplingOptions options, List<float[]>? trajectory = null)
    {
        Validate(options);
        var sampler = SamplerTimesteps.Create(options.Sampler, Schedule, options.Steps, options.Eta, options.Variance);
        lock (gate)
        {
            var guide = options.AutoguidanceScale == 1 ? null : GuideIn(options.Precision);
            var sampling = new LatentSampling(NetworkIn(options.Precision), Schedule, Objective, LatentShape.Select(d => (long)d).ToArray(), guide);
            using var _ = no_grad();
            using var scope = NewDisposeScope();
            Action<int, Tensor>? onStep = trajectory is null ? null : (_, x0) => trajectory.Add(x0.cpu().flatten().data<float>().ToArray());
            var latents = sampling.Sample(sampler, labels, seeds, options, onStep);
            return latents.cpu().flatten().data<float>().ToArray();
        }
    }

    /// <summary>The denoiser in <paramref name="precision"/>: the float32 network itself, or a bfloat16 copy made on first use. Call under the gate.</summary>
    private DenoisingUnet NetworkIn(SamplingPrecision precision) =>
        precision == SamplingPrecision.Float32 ? Network : bfloat16Network ??= BFloat16Copy(Network, Width);

    /// <summary>The guide in <paramref name="precision"/>, like <see cref="NetworkIn"/>. Call under the gate.</summary>
    private DenoisingUnet GuideIn(SamplingPrecision precision) =>
        precision == SamplingPrecision.Float32 ? Guide! : bfloat16Guide ??= BFloat16Copy(Guide!, GuideWidth);

    private DenoisingUnet BFloat16Copy(DenoisingUnet source, int width)
    {
        var copy = new DenoisingUnet(LatentShape[0], LatentShape[1], width, Classes);
        copy.load_state_dict(source.state_dict());
        copy.to(Device).to(ScalarType.BFloat16).eval();
        return copy;
    }

    /// <summary>Denoiser passes per sample under <paramref name="options"/> (guided steps take two; guide passes not counted).</summary>
    public int NetworkEvaluations(SamplingOptions options)
    {
        Validate(options);
        var steps = SamplerTimesteps.Create(options.Sampler, Schedule, options.Steps, options.Eta, options.Variance).Timesteps;
        return steps.Sum(t => Classes > 0 && options.GuidanceAt(t, Schedule.Timesteps) is not (0 or 1) ? 2 : 1);
    }

    /// <summary>Guide passes per sample under <paramref name="options"/>: one per step inside the autoguidance band, none without autoguidance.</summary>
    public int GuideEvaluations(SamplingOptions options)
    {
        Validate(options);
        var steps = SamplerTimesteps.Create(options.Sampler, Schedule, options.Steps, options.Eta, options.Variance).Timesteps;
        return steps.Count(t => options.AutoguidanceAt(t, Schedule.Timesteps) != 1);
    }

    /// <summary>Analytic FLOPs of sampling one latent under <paramref name="options"/>: denoiser and guide passes.</summary>
    public double SamplingFlops(SamplingOptions options) =>
        NetworkEvaluations(options) * Network.ForwardFlops() + GuideEvaluations(options) * (Guide?.ForwardFlops() ?? 0);

    public void Write(BinaryWriter w)
    {
        w.Write((int)Schedule.Kind);
        w.Write(Schedule.Timesteps);
        w.Write((int)Objective);
        w.Write(LatentShape.Length);
        foreach (var d in LatentShape) w.Write(d);
        w.Write(Width);
        w.Write(Classes);
        WeightArchive.Write(w, Network);
    }

    /// <summary>Name of the model-zip stream holding the guide denoiser (format version 4; absent when the model has no guide).</summary>
    internal const string GuideStream = "Guide.weights";

    public void WriteGuide(BinaryWriter w)
    {
        w.Write(GuideWidth);
        WeightArchive.Write(w, Guide ?? throw new InvalidOperationException("The diffusion model has no guide to write."));
        GuideHistory.Write(w);
    }

    /// <summary>The model-zip streams of the guide: none without one.</summary>
    public IEnumerable<(string Name, Action<BinaryWriter> Write)> GuideStreams() =>
        Guide is null ? [] : [(GuideStream, WriteGuide)];

    /// <summary>Reads a guide written by <see cref="WriteGuide"/> and attaches it.</summary>
    public void ReadGuide(BinaryReader r)
    {
        int width = r.ReadInt32();
        if (width is < 2 or > 4096) throw new InvalidDataException($"'{GuideStream}' declares an impossible guide width {width}.");
        var guide = new DenoisingUnet(LatentShape[0], LatentShape[1], width, Classes);
        WeightArchive.Read(r, guide, GuideStream);
        AttachGuide(guide.to(Device), width, TrainingHistory.Read(r));
    }

    public static DiffusionModel Read(BinaryReader r, Device device, string entry)
    {
        var kind = (NoiseScheduleKind)r.ReadInt32();
        int timesteps = r.ReadInt32();
        var objective = (DiffusionObjective)r.ReadInt32();
        int rank = r.ReadInt32();
        if (!Enum.IsDefined(kind) || !Enum.IsDefined(objective) || timesteps is < 2 or > 100_000 || rank != 3)
            throw new InvalidDataException($"'{entry}' declares an unknown schedule, objective or latent rank.");
        var shape = Enumerable.Range(0, rank).Select(_ => r.ReadInt32()).ToArray();
        int width = r.ReadInt32(), classes = r.ReadInt32();
        if (shape.Any(d => d is < 1 or > 4096) || width is < 2 or > 4096 || classes is < 0 or > 100_000)
            throw new InvalidDataException($"'{entry}' declares an impossible network shape.");
        var network = new DenoisingUnet(shape[0], shape[1], width, classes);
        WeightArchive.Read(r, network, entry);
        return new DiffusionModel(network.to(device), kind, timesteps, objective, shape, width, device);
    }
}
