using System.Text.Json.Nodes;
using LatentDiffusion.IO;
using Microsoft.ML;
using static TorchSharp.torch;

namespace LatentDiffusion.MLNet.Persistence;

/// <summary>
/// The TorchSharp side of every component's model-file entry (<see cref="ComponentCodec"/>): each network as its weight
/// stream, and a component rebuilt from its settings and streams on the loading context's device.
/// </summary>
internal static class WeightStreams
{
    private const string ConfigStream = ComponentCodec.ConfigStream;

    /// <summary>Writes <paramref name="settings"/> as the JSON block and each network as its weight stream.</summary>
    public static void Save<T>(ModelSaveContext context, ComponentFormat format, T settings, IEnumerable<(string Stream, nn.Module Network)> weights) =>
        ComponentCodec.Save(context, format, settings, weights.Select(p => (p.Stream, (Action<BinaryWriter>)(w => ModuleWeights.Write(w, p.Network)))));

    /// <summary>
    /// Opens a component being loaded by ML.NET, and picks the device its networks go to from the loading MLContext's
    /// GpuDeviceId and FallbackToCpu.
    /// </summary>
    public static (ModelStreams Streams, Device Device) Open(Microsoft.ML.Runtime.IHostEnvironment env, object context, ComponentFormat format)
    {
        var streams = MLNetInternals.Open(context, format);
        var (gpu, fallback) = MLNetInternals.DeviceSettings(env);
        return (streams, Runtime.DeviceSelector.ForLoadedModel(gpu, fallback));
    }

    /// <summary>
    /// Checks, before the network of <paramref name="parameters"/> weights is built, that weight stream
    /// <paramref name="stream"/> declares room for them: a file whose settings describe a far larger network than its
    /// weights could fill is refused without allocating it.
    /// </summary>
    public static void CheckWeightsFit(ModelStreams streams, string stream, long parameters)
    {
        long needed = parameters * sizeof(float);
        int declared = 0;
        streams.Read(stream, r => declared = r.ReadInt32());
        if (needed > IO.WeightArchive.MaxBytes || declared < needed)
            throw new ModelFileException(streams.Format.Loader.Name, stream,
                $"The '{ConfigStream}' entry of {streams.Format.Loader.Name} describes a network of {parameters:N0} weights ({needed:N0} bytes), but "
                    + $"'{stream}' declares {declared:N0} bytes: the file is damaged or was not written by this library.");
    }

    /// <summary>Fills <paramref name="network"/> (built from the settings) from weight stream <paramref name="stream"/>.</summary>
    public static void ReadWeights(ModelStreams streams, string stream, nn.Module network) =>
        streams.Read(stream, r => ModuleWeights.Read(r, network, stream));

    /// <summary>
    /// Rebuilds a model from the config a file holds and fills its networks from their weight streams: the config
    /// validated, each stream's size checked against its network, every failure named as this file's.
    /// </summary>
    public static TModel ReadModel<TConfig, TModel>(ModelStreams streams, TConfig config, Device device,
        params (string Stream, Func<TConfig, long> Parameters, Func<TModel, nn.Module> Network)[] weights)
        where TModel : Models.IModelFamily<TConfig, TModel>
    {
        ComponentErrors.Loading(() =>
        {
            TModel.Validate(config, $"'{ConfigStream}'");
            foreach (var (stream, parameters, _) in weights) CheckWeightsFit(streams, stream, parameters(config));
            return 0;
        }, streams.Format);
        var model = ComponentErrors.Loading(() => TModel.Build(config, device), streams.Format);
        foreach (var (stream, _, network) in weights) ReadWeights(streams, stream, network(model));
        return model;
    }

    /// <summary>
    /// Loads a component from a model file: a JSON-version file through its settings and <paramref name="read"/>, an
    /// older one through <paramref name="readLegacy"/>; <paramref name="create"/> makes the transformer, and its failures
    /// are named as the file's (the settings entry that caused them).
    /// </summary>
    public static T Load<TSettings, TModel, T>(Microsoft.ML.Runtime.IHostEnvironment env, object context, ComponentFormat format,
        Func<ModelStreams, Device, (TSettings Settings, TModel Model)> readLegacy, Func<ModelStreams, TSettings, Device, TModel> read,
        Func<TModel, TSettings, T> create, Action<JsonObject, uint>? migrate = null) where TSettings : class
    {
        var (streams, device) = Open(env, context, format);
        if (!streams.IsJson)
        {
            var (legacy, legacyModel) = readLegacy(streams, device);
            return ComponentErrors.Loading(() => create(legacyModel, legacy), streams.Format, ComponentCodec.LegacySettingsStream);
        }
        var settings = ComponentCodec.ReadSettings<TSettings>(streams, migrate);
        var model = read(streams, settings, device);
        return ComponentErrors.Loading(() => create(model, settings), streams.Format);
    }
}
