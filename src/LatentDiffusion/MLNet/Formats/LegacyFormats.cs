using LatentDiffusion.Diffusion;
using LatentDiffusion.Diffusion.Samplers;
using LatentDiffusion.IO;
using LatentDiffusion.MLNet.Autoencoder;
using LatentDiffusion.MLNet.Denoising;
using LatentDiffusion.MLNet.Evaluation;
using LatentDiffusion.MLNet.Generation;
using LatentDiffusion.MLNet.Persistence;
using LatentDiffusion.Models;
using LatentDiffusion.Models.Classifier;
using LatentDiffusion.Models.Denoisers;
using LatentDiffusion.Models.Vae;
using LatentDiffusion.Training;
using static TorchSharp.torch;

namespace LatentDiffusion.MLNet.Formats;

/// <summary>
/// Readers for the binary formats written before the JSON settings block (see <see cref="ComponentFormats"/> for
/// the version history). Each turns an old file into today's settings and networks, so the rest of the library knows
/// one format only. Nothing here is written any more.
/// </summary>
internal static class LegacyFormats
{
    /// <summary>The entry that held these formats' settings (today's Config.json).</summary>
    public const string SettingsStream = ComponentCodec.LegacySettingsStream;

    public static (VaeEncoderTransformer.Settings Settings, VaeModel Model) ReadVaeEncoder(ModelStreams streams, Device device)
    {
        var settings = new VaeEncoderTransformer.Settings();
        streams.Read("Settings.bin", r => settings = settings with
        {
            ImageColumn = r.ReadString(), LatentColumn = r.ReadString(), Output = Enum<LatentOutput>(r.ReadInt32(), "Settings.bin"), Seed = r.ReadInt32(),
            History = ReadHistory(r),
        });
        VaeModel? model = null;
        streams.Read("Vae.weights", r => model = ReadVae(r, device));
        return (settings with { Vae = model!.Config }, model);
    }

    public static (LatentDiffusionTransformer.Settings Settings, DiffusionModel Model) ReadLatentDiffusion(ModelStreams streams, Device device)
    {
        var settings = new LatentDiffusionTransformer.Settings();
        var history = Array.Empty<EpochRecord>();
        streams.Read("Settings.bin", r =>
        {
            string label = r.ReadString();
            bool conditional = r.ReadBoolean();
            settings = settings with { LabelColumn = conditional ? label : null, SeedColumn = r.ReadString(), OutputColumn = r.ReadString(),
                Seed = r.ReadInt32(), Sampling = ReadSampling(r) };
            history = ReadHistory(r);
        });
        var model = ReadDiffusion(streams, settings.Sampling, device, history);
        return (settings with { Model = model.Config, History = history, AutoguidanceHistory = [.. model.AutoguidanceHistory.Epochs] }, model);
    }

    public static (DigitGeneratorTransformer.Settings Settings, (DiffusionModel Diffusion,
        VaeModel? Vae) Models) ReadDigitGenerator(ModelStreams streams, Device device)
    {
        var settings = new DigitGeneratorTransformer.Settings();
        streams.Read("Settings.bin", r => settings = settings with
        {
            LabelColumn = r.ReadString(), SeedColumn = r.ReadString(), OutputColumn = r.ReadString(), Seed = r.ReadInt32(), Sampling = ReadSampling(r),
        });
        VaeModel? vae = null;
        streams.Read("Vae.weights", r => vae = ReadVae(r, device));
        var diffusion = ReadDiffusion(streams, settings.Sampling, device, []);
        return (settings with { Model = diffusion.Config, Vae = vae!.Config, AutoguidanceHistory = [.. diffusion.AutoguidanceHistory.Epochs] },
            (diffusion, vae));
    }

    public static (FidEvaluatorTransformer.Settings Settings, ClassifierModel Model) ReadFidEvaluator(ModelStreams streams, Device device)
    {
        var settings = new FidEvaluatorTransformer.Settings();
        streams.Read("Settings.bin", r =>
        {
            int side = r.ReadInt32(), classes = r.ReadInt32();
            settings = settings with
            {
                Classifier = new ClassifierConfig { ImageShape = [1, side, side], Classes = classes },
                ImageColumn = r.ReadString(), FeaturesColumn = r.ReadString(), PredictedLabelColumn = r.ReadString(), ScoreColumn = r.ReadString(),
                History = ReadHistory(r),
            };
        });
        ClassifierModel? model = null;
        streams.Read("Classifier.weights", r =>
        {
            Built(() => { ClassifierModel.Validate(settings.Classifier, "the 'Settings.bin' entry"); return 0; });
            int length = Fits(r, Built(() => ClassifierModel.ParameterCount(settings.Classifier)));
            model = Built(() => ClassifierModel.Build(settings.Classifier, device));
            ModuleWeights.Read(r, model.Network, "Classifier.weights", length);
        });
        return (settings, model!);
    }

    /// <summary>Version-1 VAE weights: image side, latent channels, latent side, width, per-channel shift and scale, then the archive.</summary>
    private static VaeModel ReadVae(BinaryReader r, Device device)
    {
        int side = r.ReadInt32(), channels = r.ReadInt32(), latentSide = r.ReadInt32(), width = r.ReadInt32();
        if (side is < 4 or > VaeConfig.MaxSide || channels is < 1 or > VaeConfig.MaxChannels || latentSide < 1 || side % latentSide != 0)
            throw new InvalidDataException($"it declares an impossible VAE shape (side {side}, {channels} latent channels, latent side {latentSide}, "
                + $"width {width}).");
        var shift = Enumerable.Range(0, channels).Select(_ => r.ReadSingle()).ToArray();
        var scale = Enumerable.Range(0, channels).Select(_ => r.ReadSingle()).ToArray();
        var config = new VaeConfig { ImageShape = [1, side, side], LatentChannels = channels, Downsampling = side / latentSide, Width = width,
            LatentShift = shift, LatentScale = scale };
        Built(() => { VaeModel.Validate(config, "the 'Vae.weights' entry"); return 0; });
        int length = Fits(r, Built(() => VaeModel.ParameterCount(config)));
        var model = Built(() => VaeModel.Build(config, device));
        ModuleWeights.Read(r, model.Network, "Vae.weights", length);
        return model;
    }

    /// <summary>
    /// The denoiser (Denoiser.weights: schedule, T, objective, shape, width, classes, archive), the optional weak
    /// denoiser (Guide.weights: width, archive, history) and the sampling settings added by versions 2 to 4.
    /// </summary>
    private static DiffusionModel ReadDiffusion(ModelStreams streams, SamplingOptions sampling, Device device, EpochRecord[] history)
    {
        streams.ReadIfPresent("Guidance.bin", r => (sampling.GuidanceMinNoise, sampling.GuidanceMaxNoise) = (r.ReadDouble(), r.ReadDouble()));
        streams.ReadIfPresent("Precision.bin", r => sampling.Precision = Enum<SamplingPrecision>(r.ReadInt32(), "Precision.bin"));
        streams.ReadIfPresent("Autoguidance.bin", r => (sampling.AutoguidanceScale, sampling.AutoguidanceMinNoise,
            sampling.AutoguidanceMaxNoise) = (r.ReadDouble(), r.ReadDouble(), r.ReadDouble()));

        DiffusionModelConfig? config = null;
        Denoiser? denoiser = null;
        streams.Read("Denoiser.weights", r =>
        {
            var schedule = Enum<NoiseScheduleKind>(r.ReadInt32(), "Denoiser.weights");
            int timesteps = r.ReadInt32();
            // Version 1 to 4's SampleSnrHuber (1) is today's Sample objective; the loss it was trained with does not matter for sampling.
            var objective = Enum<DiffusionObjective>(r.ReadInt32(), "Denoiser.weights");
            int rank = r.ReadInt32();
            if (rank != 3) throw new InvalidDataException($"it declares a latent of rank {rank}; these versions wrote rank 3 only.");
            var shape = Enumerable.Range(0, rank).Select(_ => r.ReadInt32()).ToArray();
            int width = r.ReadInt32(), classes = r.ReadInt32();
            config = new DiffusionModelConfig
            {
                Denoiser = new DenoiserConfig { Kind = DenoiserKind.UNet, DataShape = shape, Width = width, Classes = classes },
                Schedule = schedule, Timesteps = timesteps, Objective = objective,
            };
            Built(() => { DiffusionModel.Validate(config, "the 'Denoiser.weights' entry"); return 0; });
            int length = Fits(r, Built(() => DenoiserNetworks.ParameterCount(config.Denoiser)));
            denoiser = DenoiserNetworks.Create(config.Denoiser, device);
            ModuleWeights.Read(r, denoiser, "Denoiser.weights", length);
        });
        Denoiser? weak = null;
        var weakHistory = Array.Empty<EpochRecord>();
        streams.ReadIfPresent("Guide.weights", r =>
        {
            var weakConfig = config!.Denoiser with { Width = r.ReadInt32() };
            config = config with { Autoguidance = weakConfig };
            Built(() => { DiffusionModel.Validate(config, "the 'Guide.weights' entry"); return 0; });
            int length = Fits(r, Built(() => DenoiserNetworks.ParameterCount(weakConfig)));
            weak = DenoiserNetworks.Create(weakConfig, device);
            ModuleWeights.Read(r, weak, "Guide.weights", length);
            weakHistory = ReadHistory(r);
        });
        return new DiffusionModel(config!, denoiser!, weak, device) { History = new TrainingHistory(history),
            AutoguidanceHistory = new TrainingHistory(weakHistory) };
    }

    /// <summary>Version 1 to 4 sampling settings: sampler (by its number), steps, eta, DDPM variance, guidance scale, batch size.</summary>
    private static SamplingOptions ReadSampling(BinaryReader r)
    {
        int number = r.ReadInt32(), steps = r.ReadInt32();
        double eta = r.ReadDouble();
        var variance = Enum<DdpmVariance>(r.ReadInt32(), "Settings.bin");
        var sampler = SamplerRegistry.Legacy(number) ?? throw new InvalidDataException($"it holds an unknown sampler number {number}.");
        sampler = sampler switch
        {
            DdimSampler ddim => ddim with { Eta = eta },
            DdpmSampler ddpm => ddpm with { Variance = variance },
            _ => sampler,
        } with { Steps = steps };
        return new() { Sampler = sampler, GuidanceScale = r.ReadDouble(), BatchSize = r.ReadInt32() };
    }

    private static EpochRecord[] ReadHistory(BinaryReader r)
    {
        int n = r.ReadInt32();
        if (n is < 0 or > 1_000_000) throw new InvalidDataException($"it declares a training history of {n} epochs.");
        return Enumerable.Range(0, n).Select(_ => new EpochRecord(r.ReadInt32(), r.ReadDouble(), r.ReadDouble(), r.ReadDouble(), r.ReadDouble())).ToArray();
    }

    /// <summary>
    /// Reads the weight archive's declared length and checks that it has room for <paramref name="parameters"/> float32
    /// weights, before the network is built: a file that declares a huge network in a small archive is refused without
    /// allocating it. Returns the length for <see cref="ModuleWeights.Read(BinaryReader, TorchSharp.torch.nn.Module, string, int)"/>.
    /// </summary>
    private static int Fits(BinaryReader r, long parameters)
    {
        int length = WeightArchive.ReadLength(r);
        if (parameters * sizeof(float) > length)
            throw new InvalidDataException($"it declares a network of {parameters:N0} weights ({parameters * sizeof(float):N0} bytes) but holds "
                + $"{length:N0} bytes of weights.");
        return length;
    }

    /// <summary>A network or a count from the declared sizes; sizes no network can have become a file error of the entry being read.</summary>
    private static T Built<T>(Func<T> build)
    {
        try
        {
            return build();
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"it declares a network this library cannot build: {ErrorText.OneLine(e)}", e);
        }
    }

    private static T Enum<T>(int value, string entry) where T : struct, Enum =>
        System.Enum.IsDefined(typeof(T), value) ? (T)(object)value : throw new InvalidDataException($"it holds an unknown {typeof(T).Name} {value}.");
}
