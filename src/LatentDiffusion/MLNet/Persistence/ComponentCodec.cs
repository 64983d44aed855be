using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using LatentDiffusion.IO;
using Microsoft.ML;
using static TorchSharp.torch;

namespace LatentDiffusion.MLNet.Persistence;

/// <summary>
/// Writes and reads every component the same way: one JSON settings block plus one weight stream per network
/// (<see cref="ComponentFormats"/> documents the layout and its history). Transformers say what their settings are
/// and which networks they own; nothing else about the format lives in them.
/// </summary>
internal static class ComponentCodec
{
    public const string ConfigStream = ModelStreams.ConfigStream;

    /// <summary>Largest settings block read: far above any real one, so a damaged file cannot make us allocate without bound.</summary>
    private const int MaxConfigBytes = 16 << 20;

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        Converters = { new JsonStringEnumConverter(allowIntegerValues: false) },
    };

    /// <summary>Writes <paramref name="settings"/> as the JSON block and each network as its weight stream.</summary>
    public static void Save<T>(ModelSaveContext context, ComponentFormat format, T settings, IEnumerable<(string Stream, nn.Module Network)> weights)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(settings, Json);
        var streams = new List<(string, Action<BinaryWriter>)> { (ConfigStream, w => w.Write(json)) };
        foreach (var (stream, network) in weights) streams.Add((stream, w => WeightArchive.Write(w, network)));
        MLNetInternals.Save(context, format, streams);
    }

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

    /// <summary>The JSON settings block of a file written in a JSON version.</summary>
    public static T ReadSettings<T>(ModelStreams streams)
    {
        T? settings = default;
        streams.Read(ConfigStream, r =>
        {
            var bytes = r.ReadBytes(MaxConfigBytes + 1);
            if (bytes.Length > MaxConfigBytes) throw new InvalidDataException($"it is longer than {MaxConfigBytes} bytes, the most a settings block can be.");
            try
            {
                settings = JsonSerializer.Deserialize<T>(bytes, Json);
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"it is not valid settings JSON ({e.Message})", e);
            }
        });
        return settings ?? throw new ModelFileException(streams.Format.Loader.Name, ConfigStream,
            $"The '{ConfigStream}' entry of {streams.Format.Loader.Name} is empty.");
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
        streams.Read(stream, r => WeightArchive.Read(r, network, stream));

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

    /// <summary>The entry that held the settings of the formats before JSON (see the legacy readers).</summary>
    public const string LegacySettingsStream = "Settings.bin";

    /// <summary>
    /// Loads a component from a model file: a JSON-version file through its settings and <paramref name="read"/>, an
    /// older one through <paramref name="readLegacy"/>; <paramref name="create"/> makes the transformer, and its failures
    /// are named as the file's (the settings entry that caused them).
    /// </summary>
    public static T Load<TSettings, TModel, T>(Microsoft.ML.Runtime.IHostEnvironment env, object context, ComponentFormat format,
        Func<ModelStreams, Device, (TSettings Settings, TModel Model)> readLegacy, Func<ModelStreams, TSettings, Device, TModel> read,
        Func<TModel, TSettings, T> create)
    {
        var (streams, device) = Open(env, context, format);
        if (!streams.IsJson)
        {
            var (legacy, legacyModel) = readLegacy(streams, device);
            return ComponentErrors.Loading(() => create(legacyModel, legacy), streams.Format, LegacySettingsStream);
        }
        var settings = ReadSettings<TSettings>(streams);
        var model = read(streams, settings, device);
        return ComponentErrors.Loading(() => create(model, settings), streams.Format);
    }

    /// <summary>The settings as JSON text, for tests and diagnostics.</summary>
    public static string ToJson<T>(T settings) => Encoding.UTF8.GetString(JsonSerializer.SerializeToUtf8Bytes(settings, Json));
}
