using LatentDiffusion.Diffusion;
using LatentDiffusion.MLNet.Formats;
using LatentDiffusion.MLNet.Persistence;
using LatentDiffusion.Models.Denoisers;
using LatentDiffusion.Training;
using Microsoft.ML;
using Microsoft.ML.Runtime;

namespace LatentDiffusion.MLNet.Denoising;

/// <summary>
/// The fitted diffusion model: request rows (optional label column, -1 = unconditional; optional seed column) to
/// generated samples, streamed in batches.
/// </summary>
public sealed class LatentDiffusionTransformer : BatchTransformer
{
    /// <summary>What is saved besides the weights (the <c>Config.json</c> block; see <see cref="ComponentFormats"/>).</summary>
    internal sealed record Settings : RequestSettings
    {
        public Settings()
        {
        }

        /// <summary>The request and model settings of <paramref name="requests"/> (a generator's), with this transformer's output column.</summary>
        public Settings(RequestSettings requests) : base(requests)
        {
        }

        public string OutputColumn { get; init; } = "GeneratedLatent";
    }

    internal const string DenoiserStream = "Denoiser.weights", AutoguidanceStream = "Autoguidance.weights";
    private readonly Settings settings;

    internal LatentDiffusionTransformer(DiffusionModel model, Settings settings)
    {
        OptionChecks.ColumnName(settings.SeedColumn, nameof(settings.SeedColumn), nameof(LatentDiffusionTransformer));
        OptionChecks.ColumnName(settings.OutputColumn, nameof(settings.OutputColumn), nameof(LatentDiffusionTransformer));
        model.Validate(settings.Sampling);
        Model = model;
        this.settings = settings with { Model = model.Config, LabelColumn = model.Classes == 0 ? null : settings.LabelColumn };
    }

    internal DiffusionModel Model { get; }

    /// <summary>
    /// Writes the model for ONNX Runtime into <paramref name="folder"/> (created if needed): <c>denoiser.onnx</c>,
    /// <c>autoguidance.onnx</c> when the model has an autoguidance denoiser, and <c>latent-diffusion.json</c> with the
    /// shapes, the noise schedule, the data standardisation and range, and these sampling settings. The networks are
    /// float32 (a model sampled in bfloat16 here is exported in float32). Returns the paths written.
    /// </summary>
    public IReadOnlyList<string> ExportOnnx(string folder) => Export.OnnxExport.Write(folder, Model, null, settings.Sampling, Seed);
    /// <summary>How samples are drawn (a copy; use <see cref="WithSampling"/> to change).</summary>
    public SamplingOptions Sampling => settings.Sampling.Clone();
    /// <summary>Request label column, or null for an unconditional model.</summary>
    public string? LabelColumnName => settings.LabelColumn;
    /// <summary>Request seed column (optional in the input).</summary>
    public string SeedColumnName => settings.SeedColumn;
    /// <summary>Output column of generated samples.</summary>
    public string OutputColumnName => settings.OutputColumn;
    /// <summary>Seed used when the input has no seed column.</summary>
    public int Seed => settings.Seed;
    /// <summary>The networks, schedule and objective.</summary>
    public DiffusionModelConfig Config => Model.Config;
    /// <summary>Per-epoch losses of the denoiser.</summary>
    public TrainingHistory History => Model.History;
    /// <summary>Per-epoch losses of the autoguidance denoiser (empty when none was trained).</summary>
    public TrainingHistory AutoguidanceHistory => Model.AutoguidanceHistory;
    /// <summary>Width of the autoguidance denoiser, 0 when none was trained.</summary>
    public int AutoguidanceWidth => Model.Config.Autoguidance?.Width ?? 0;
    /// <summary>Shape of one generated sample.</summary>
    public IReadOnlyList<int> DataShape => Model.DataShape;
    /// <summary>Number of classes (0 = unconditional).</summary>
    public int Classes => Model.Classes;
    /// <summary>Analytic FLOPs of one denoiser forward pass for one sample (for achieved-GFLOP/s benchmarks).</summary>
    public double DenoiserFlops => Model.Denoiser.ForwardFlops();
    /// <summary>The sampler's evaluations per sample under <see cref="Sampling"/> (one per step for most samplers; Heun's two).</summary>
    public int EvaluationsPerSample => settings.Sampling.Sampler.Evaluations(Model.Schedule).Count;
    /// <summary>Denoiser passes per sample under <see cref="Sampling"/>: one per evaluation, two on guided ones.</summary>
    public int DenoiserPassesPerSample => Model.Passes(settings.Sampling).Denoiser;
    /// <summary>Autoguidance denoiser passes per sample under <see cref="Sampling"/> (0 without autoguidance).</summary>
    public int AutoguidancePassesPerSample => Model.Passes(settings.Sampling).Autoguidance;
    /// <summary>Analytic FLOPs of drawing one sample under <see cref="Sampling"/>: all denoiser passes.</summary>
    public double SamplingFlopsPerSample => Model.SamplingFlops(settings.Sampling);

    /// <summary>The sampling settings themselves, for the components that wrap this one (not a copy: never change them).</summary>
    internal SamplingOptions SamplingSettings => settings.Sampling;

    /// <summary>A vector column of the given shape, annotated with it when it has more than one dimension.</summary>
    internal static OutputColumn OutputColumn(string name, IReadOnlyList<int> shape) => MLNet.OutputColumn.Shaped(name, shape);

    /// <summary>The same model with other sampling settings (checked against the model).</summary>
    public LatentDiffusionTransformer WithSampling(SamplingOptions sampling) => new(Model, settings with { Sampling = sampling.Clone() });

    /// <summary>The same model reading requests from other columns, with another default seed and other sampling settings.</summary>
    internal LatentDiffusionTransformer WithRequests(string? labelColumn, string seedColumn, int seed, SamplingOptions sampling) =>
        new(Model, settings with { LabelColumn = labelColumn, SeedColumn = seedColumn, Seed = seed, Sampling = sampling.Clone() });

    /// <summary>Samples directly: one per (label, seed); label -1 = unconditional. Returns rows x sample size floats.</summary>
    public float[] Sample(ReadOnlySpan<int> labels, ReadOnlySpan<long> seeds)
    {
        CheckRequests(labels, seeds);
        return Model.Sample(labels, seeds, settings.Sampling);
    }

    /// <summary>
    /// The denoising trajectory: for each sampler step, the noisy state it starts from (<c>Noisy</c>) and the clean
    /// sample the denoiser predicts there (<c>Predicted</c>), each rows x sample size floats in the data's units; the
    /// last step's prediction is the final sample.
    /// </summary>
    public (float[] Noisy, float[] Predicted)[] Trajectory(ReadOnlySpan<int> labels, ReadOnlySpan<long> seeds)
    {
        CheckRequests(labels, seeds);
        var steps = new List<(float[], float[])>();
        Model.Sample(labels, seeds, settings.Sampling, (_, xt, x0) => steps.Add((Host(xt), Host(x0))));
        return [.. steps];

        static float[] Host(TorchSharp.torch.Tensor t) => t.cpu().flatten().data<float>().ToArray();
    }

    /// <summary>Refuses requests whose labels and seeds differ in number or whose labels the model does not know.</summary>
    internal void CheckRequests(ReadOnlySpan<int> labels, ReadOnlySpan<long> seeds) =>
        RequestValidation.Check(labels, seeds.Length, Classes, LabelColumnName ?? "label");

    /// <inheritdoc/>
    protected override BatchMapper CreateMapper() => CreateMapper(OutputColumn(OutputColumnName, Model.DataShape),
        (labels, seeds, output) => Model.Sample(labels, seeds, settings.Sampling).CopyTo(output, 0));

    /// <summary>A mapper that reads this model's requests in batches of its sampling batch size and fills one output column.</summary>
    internal RequestMapper CreateMapper(OutputColumn output, Action<int[], long[], float[]> fill) =>
        new(LabelColumnName, SeedColumnName, Seed, Classes, settings.Sampling.BatchSize, [output], fill);

    /// <summary>What a model file holds besides the weights; the generator saves it too, with its image column.</summary>
    internal Settings SavedSettings => settings with { History = [.. History.Epochs], AutoguidanceHistory = [.. AutoguidanceHistory.Epochs] };

    /// <inheritdoc/>
    protected override void Save(ModelSaveContext ctx) => WeightStreams.Save(ctx, ComponentFormats.LatentDiffusion, SavedSettings, Networks(Model));

    /// <summary>The weight streams of a diffusion model: the denoiser, and the autoguidance denoiser when there is one.</summary>
    internal static IEnumerable<(string, TorchSharp.torch.nn.Module)> Networks(DiffusionModel model) =>
        model.AutoguidanceDenoiser is { } weak ? [(DenoiserStream, model.Denoiser), (AutoguidanceStream, weak)] : [(DenoiserStream, model.Denoiser)];

    /// <summary>Rebuilds a diffusion model from its config and fills its networks from the weight streams.</summary>
    internal static DiffusionModel ReadModel(ModelStreams streams, DiffusionModelConfig config, EpochRecord[] history, EpochRecord[] autoguidanceHistory,
        TorchSharp.torch.Device device)
    {
        (string, Func<DiffusionModelConfig, long>, Func<DiffusionModel, TorchSharp.torch.nn.Module>) denoiser =
            (DenoiserStream, c => DenoiserNetworks.ParameterCount(c.Denoiser), m => m.Denoiser);
        var model = config.Autoguidance is null
            ? WeightStreams.ReadModel<DiffusionModelConfig, DiffusionModel>(streams, config, device, denoiser)
            : WeightStreams.ReadModel<DiffusionModelConfig, DiffusionModel>(streams, config, device, denoiser,
                (AutoguidanceStream, c => DenoiserNetworks.ParameterCount(c.Autoguidance!), m => m.AutoguidanceDenoiser!));
        model.History = new TrainingHistory(history);
        model.AutoguidanceHistory = new TrainingHistory(autoguidanceHistory);
        return model;
    }

    private static LatentDiffusionTransformer Create(IHostEnvironment env, object ctx) => WeightStreams.Load(env, ctx, ComponentFormats.LatentDiffusion,
        LegacyFormats.ReadLatentDiffusion, (streams, settings, device) => ReadModel(streams, settings.Model, settings.History,
            settings.AutoguidanceHistory, device),
        (model, settings) => new LatentDiffusionTransformer(model, settings), ComponentFormats.SamplerObjectSince(6));
}
