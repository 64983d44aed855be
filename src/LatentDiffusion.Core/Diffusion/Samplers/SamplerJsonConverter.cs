using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace LatentDiffusion.Diffusion.Samplers;

/// <summary>
/// A sampler in JSON: an object whose <c>name</c> is the sampler's registered name and whose other fields are its
/// settings (<c>{"name": "UniPc", "steps": 20, "spacing": "Time", ...}</c>). Reading looks the name up in
/// <see cref="SamplerRegistry"/>, so samplers an application registers load like the built-in ones.
/// </summary>
public sealed class SamplerJsonConverter : JsonConverter<DiffusionSampler>
{
    /// <summary>The field that names the sampler.</summary>
    public const string NameField = "name";

    /// <inheritdoc/>
    public override bool CanConvert(Type typeToConvert) => typeToConvert == typeof(DiffusionSampler);

    /// <inheritdoc/>
    public override DiffusionSampler? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (JsonNode.Parse(ref reader) is not JsonObject node)
            throw new JsonException("A sampler must be a JSON object with a 'name' and its settings.");
        if (node[NameField] is not JsonValue value || !value.TryGetValue(out string? name))
            throw new JsonException($"A sampler object needs a string '{NameField}'; expected one of {string.Join(", ", SamplerRegistry.Names)}.");
        var type = SamplerRegistry.Find(name)
            ?? throw new JsonException($"Unknown sampler '{name}'; expected one of {string.Join(", ", SamplerRegistry.Names)} (an application's own "
                + "samplers must be registered with SamplerRegistry.Register before loading).");
        node.Remove(NameField);
        return (DiffusionSampler?)node.Deserialize(type, options);
    }

    /// <inheritdoc/>
    public override void Write(Utf8JsonWriter writer, DiffusionSampler value, JsonSerializerOptions options)
    {
        var node = JsonSerializer.SerializeToNode(value, value.GetType(), options) as JsonObject
            ?? throw new JsonException($"{value.GetType().Name} did not serialise to an object.");
        var named = new JsonObject { [NameField] = value.Name };
        foreach (var (key, child) in node.ToList())
        {
            node.Remove(key);
            named[key] = child;
        }
        named.WriteTo(writer, options);
    }
}
