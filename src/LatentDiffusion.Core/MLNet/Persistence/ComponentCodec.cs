using System.Text.Json;
using System.Text.Json.Nodes;
using LatentDiffusion.IO;
using Microsoft.ML;

namespace LatentDiffusion.MLNet.Persistence;

/// <summary>
/// Writes and reads every component of either engine the same way: ML.NET's version header, one JSON settings block
/// (<see cref="ConfigStream"/>, in <see cref="SettingsJson"/>'s dialect) and one binary stream per payload (a network's
/// weights, an ONNX graph). Components say what their settings are and what their payloads hold; nothing else about the
/// format lives in them.
/// </summary>
public static class ComponentCodec
{
    /// <summary>The entry that holds a component's JSON settings.</summary>
    public const string ConfigStream = ModelStreams.ConfigStream;

    /// <summary>The entry that held the settings of the formats before JSON (see the legacy readers).</summary>
    public const string LegacySettingsStream = "Settings.bin";

    /// <summary>Largest settings block read: far above any real one, so a damaged file cannot make us allocate without bound.</summary>
    private const int MaxConfigBytes = 16 << 20;

    /// <summary>Writes <paramref name="settings"/> as the JSON block and each payload as its stream.</summary>
    public static void Save<T>(ModelSaveContext context, ComponentFormat format, T settings, IEnumerable<(string Stream, Action<BinaryWriter> Write)> payloads)
    {
        var json = SettingsJson.Serialize(settings);
        var streams = new List<(string, Action<BinaryWriter>)> { (ConfigStream, w => w.Write(json)) };
        streams.AddRange(payloads);
        MLNetInternals.Save(context, format, streams);
    }

    /// <summary>
    /// The JSON settings block of a file written in a JSON version; <paramref name="migrate"/>, when given, first
    /// rewrites the block of an older version (its version given) into today's layout.
    /// </summary>
    public static T ReadSettings<T>(ModelStreams streams, Action<JsonObject, uint>? migrate = null) where T : class
    {
        T? settings = default;
        streams.Read(ConfigStream, r =>
        {
            var bytes = r.ReadBytes(MaxConfigBytes + 1);
            if (bytes.Length > MaxConfigBytes) throw new InvalidDataException($"it is longer than {MaxConfigBytes} bytes, the most a settings block can be.");
            if (migrate is not null)
            {
                JsonObject block;
                try
                {
                    block = JsonNode.Parse(bytes) as JsonObject ?? throw new InvalidDataException("it is not a JSON object.");
                }
                catch (JsonException e)
                {
                    throw new InvalidDataException($"it is not valid settings JSON ({e.Message})", e);
                }
                migrate(block, streams.Version);
                bytes = System.Text.Encoding.UTF8.GetBytes(block.ToJsonString());
            }
            settings = SettingsJson.Deserialize<T>(bytes);
        });
        return settings!;
    }

    /// <summary>A payload of raw bytes, as <see cref="ReadBytes"/> reads it: an int32 length, then the bytes.</summary>
    public static Action<BinaryWriter> Bytes(byte[] bytes) => w =>
    {
        w.Write(bytes.Length);
        w.Write(bytes);
    };

    /// <summary>The raw bytes of stream <paramref name="name"/>, written by <see cref="Bytes"/>; a damaged length fails naming the stream.</summary>
    public static byte[] ReadBytes(ModelStreams streams, string name)
    {
        byte[]? bytes = null;
        streams.Read(name, r =>
        {
            int length = r.ReadInt32();
            if (length <= 0 || length > MLNetInternals.MaxPayloadBytes)
                throw new InvalidDataException($"the entry declares an impossible length {length}.");
            bytes = r.ReadBytes(length);
            if (bytes.Length != length) throw new InvalidDataException($"the entry ends after {bytes.Length} of its {length} bytes.");
        });
        return bytes!;
    }
}
