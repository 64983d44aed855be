using System.Text.Json;
using System.Text.Json.Serialization;

namespace LatentDiffusion.IO;

/// <summary>
/// The one JSON dialect of every settings block this library writes and reads: a model file's <c>Config.json</c> and
/// an exported folder's <c>latent-diffusion.json</c>. camelCase names, enums as their names (never numbers), named
/// floating-point literals, and no field the reader does not know (a misspelt or foreign field is refused rather than
/// ignored). A sampler is written as an object naming it (<see cref="Diffusion.Samplers.SamplerJsonConverter"/>).
/// </summary>
public static class SettingsJson
{
    /// <summary>The serializer options.</summary>
    public static JsonSerializerOptions Options { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        Converters = { new JsonStringEnumConverter(allowIntegerValues: false) },
    };

    /// <summary><paramref name="value"/> as UTF-8 JSON.</summary>
    public static byte[] Serialize<T>(T value) => JsonSerializer.SerializeToUtf8Bytes(value, Options);

    /// <summary>
    /// Reads <paramref name="json"/> as <typeparamref name="T"/>; a malformed or foreign block fails with an
    /// <see cref="InvalidDataException"/> that says what is wrong (the reader's own message, naming the field).
    /// </summary>
    public static T Deserialize<T>(ReadOnlySpan<byte> json) where T : class
    {
        try
        {
            return JsonSerializer.Deserialize<T>(json, Options) ?? throw new InvalidDataException("it is empty (null).");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"it is not valid settings JSON ({e.Message})", e);
        }
    }
}
