using LatentDiffusion.Diffusion.Guidance;
using LatentDiffusion.Models;
using LatentDiffusion.Models.Denoisers;
using LatentDiffusion.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace LatentDiffusion.Diffusion;

/// <summary>
/// A trained diffusion model: its denoiser (the EMA weights), schedule and objective, and optionally the weaker
/// denoiser autoguidance uses. Samples data of its shape, one sample per (label, seed). Every tensor it creates lives
/// on <see cref="Device"/>; noise is drawn on the CPU from each request's own generator and moved there, so a seed
/// gives the same noise on every device.
/// </summary>
internal sealed class DiffusionModel : IModelFamily<DiffusionModelConfig, DiffusionModel>
{
    private readonly object gate = new();
    private readonly Dictionary<(DenoiserRole, SamplingPrecision), Denoiser> copies = [];

    /// <summary>
    /// A model of networks built from <paramref name="config"/>, which its source validated (the trainer, a file
    /// reader, <see cref="Build"/>).
    /// </summary>
    public DiffusionModel(DiffusionModelConfig config, Denoiser denoiser, Denoiser? autoguidance, Device device)
    {
        if ((autoguidance is null) != (config.Autoguidance is null))
            throw new ArgumentException("The autoguidance denoiser and the config disagree on whether there is one.", nameof(autoguidance));
        Config = config;
        Denoiser = denoiser;
        AutoguidanceDenoiser = autoguidance;
        Device = device;
        Process = config.Process;
        Schedule = Process.CreateSchedule();
        denoiser.eval();
        autoguidance?.eval();
    }

    /// <inheritdoc/>
    public static void Validate(DiffusionModelConfig config, string source)
    {
        config.Validate(source);
        DenoiserNetworks.Validate(config.Denoiser, source);
        if (config.Autoguidance is { } weak) DenoiserNetworks.Validate(weak, source);
    }

    /// <inheritdoc/>
    public static long ParameterCount(DiffusionModelConfig config) =>
        DenoiserNetworks.ParameterCount(config.Denoiser) + (config.Autoguidance is { } weak ? DenoiserNetworks.ParameterCount(weak) : 0);

    /// <inheritdoc/>
    public static DiffusionModel Build(DiffusionModelConfig config, Device device) => new(config, DenoiserNetworks.Create(config.Denoiser, device),
        config.Autoguidance is null ? null : DenoiserNetworks.Create(config.Autoguidance, device), device);

    public DiffusionModelConfig Config { get; }
    public Denoiser Denoiser { get; }
    public Denoiser? AutoguidanceDenoiser { get; }
    public NoiseSchedule Schedule { get; }

    /// <summary>What sampling needs to know about this model besides its networks.</summary>
    public DiffusionProcess Process { get; }
    public Device Device { get; }
    public int[] DataShape => Config.Denoiser.DataShape;
    public int DataSize => Config.Denoiser.DataSize;
    public int Classes => Config.Denoiser.Classes;

    /// <summary>Per-epoch losses of the denoiser.</summary>
    public TrainingHistory History { get; set; } = new();

    /// <summary>Per-epoch losses of the autoguidance denoiser (empty without one).</summary>
    public TrainingHistory AutoguidanceHistory { get; set; } = new();

    /// <summary>Checks <paramref name="options"/> against this model: each setting, and what each guidance method needs.</summary>
    public void Validate(SamplingOptions options) => options.Validate(Process);

    /// <summary>
    /// Samples one item per request (label -1 = unconditional) and returns them on the host, row-major.
    /// <paramref name="onStep"/>, when given, sees each step's input x_t and predicted x0 (valid only during the call).
    /// </summary>
    public float[] Sample(ReadOnlySpan<int> labels, ReadOnlySpan<long> seeds, SamplingOptions options, Action<int, Tensor, Tensor>? onStep = null)
    {
        using var samples = SampleOnDevice(labels, seeds, options, onStep);
        return samples.cpu().flatten().data<float>().ToArray();
    }

    /// <summary>
    /// <see cref="Sample"/>, with the samples left on <see cref="Device"/> as a [rows, ..DataShape] tensor in data units
    /// that the caller disposes: a decoder takes them from there without a trip through the host. The sampling itself
    /// is the core's <see cref="SamplingLoop"/>, over this engine's tensors.
    /// </summary>
    public Tensor SampleOnDevice(ReadOnlySpan<int> labels, ReadOnlySpan<long> seeds, SamplingOptions options, Action<int, Tensor, Tensor>? onStep = null)
    {
        Validate(options);
        if (labels.Length != seeds.Length) throw new ArgumentException($"Got {labels.Length} labels but {seeds.Length} seeds; give one of each per request.");
        lock (gate)
        {
            using var _ = no_grad();
            using var scope = NewDisposeScope();
            using var engine = new TorchDenoiserEngine(role => NetworkIn(role, options.Precision), Process.RequestLabels(labels, seeds), seeds, DataShape,
                Device);
            Action<int, TorchArray, TorchArray>? steps = onStep is null ? null : (i, xt, x0) => onStep(i, xt.Value, x0.Value);
            return SamplingLoop.Run(engine, Process, Schedule, options, steps).Value.MoveToOuterDisposeScope();
        }
    }

    /// <summary>The network of <paramref name="role"/> in <paramref name="precision"/>, as sampling runs it.</summary>
    public Denoiser Network(DenoiserRole role, SamplingPrecision precision)
    {
        lock (gate) return NetworkIn(role, precision);
    }

    /// <summary>
    /// The network of <paramref name="role"/> in <paramref name="precision"/>: itself, or a bfloat16 copy made on first
    /// use. Call under the gate.
    /// </summary>
    private Denoiser NetworkIn(DenoiserRole role, SamplingPrecision precision)
    {
        var network = role == DenoiserRole.Main
            ? Denoiser
            : AutoguidanceDenoiser ?? throw new InvalidOperationException("The model has no autoguidance denoiser.");
        if (precision == SamplingPrecision.Float32) return network;
        if (!copies.TryGetValue((role, precision), out var copy))
        {
            copy = DenoiserNetworks.Create(network.Config, Device);
            copy.load_state_dict(network.state_dict());
            copy.to(ScalarType.BFloat16).eval();
            copies[(role, precision)] = copy;
        }
        return copy;
    }

    /// <summary>Network passes per sample under <paramref name="options"/>, counted by the same rule the sampling loop follows.</summary>
    public (int Denoiser, int Autoguidance) Passes(SamplingOptions options)
    {
        Validate(options);
        return new GuidancePlan(options, Classes).Passes(options.Sampler, Schedule);
    }

    /// <summary>Analytic FLOPs of sampling one item under <paramref name="options"/>: every denoiser pass.</summary>
    public double SamplingFlops(SamplingOptions options)
    {
        var (main, weak) = Passes(options);
        return main * Denoiser.ForwardFlops() + weak * (AutoguidanceDenoiser?.ForwardFlops() ?? 0);
    }
}
