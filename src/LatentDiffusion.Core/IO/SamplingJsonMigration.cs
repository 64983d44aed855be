using System.Text.Json.Nodes;
using LatentDiffusion.Diffusion.Samplers;

namespace LatentDiffusion.IO;

/// <summary>
/// Reads the sampling settings of files written before samplers were objects (model files: diffusion format 5,
/// generator formats 5 and 6; exported folders: format 2). There the sampler was a name beside one flat list of every
/// sampler's settings; now it is an object holding its own. The migration moves each setting into the sampler object
/// when that sampler has it and drops it otherwise (it had no effect there), so old files read through today's types
/// and checks.
/// </summary>
public static class SamplingJsonMigration
{
    /// <summary>The settings that sat beside the sampler's name in the flat layout.</summary>
    private static readonly string[] SamplerFields = ["steps", "spacing", "logSnrFloor", "eta", "variance"];

    /// <summary>
    /// Rewrites the flat <paramref name="sampling"/> block in place. <paramref name="gridField"/>, when given, names a
    /// field holding the exact timesteps the sampler visited (format 2 exports), which becomes the sampler's explicit
    /// grid.
    /// </summary>
    public static void ToSamplerObject(JsonObject sampling, string? gridField = null)
    {
        if (sampling["sampler"] is not JsonValue value || !value.TryGetValue(out string? name))
            throw new InvalidDataException("its sampling block names no sampler (a string 'sampler' field).");
        var type = SamplerRegistry.Find(name) ?? throw new InvalidDataException(
            $"its sampling block names the sampler '{name}', which is not one of {string.Join(", ", SamplerRegistry.Names)}.");
        var properties = type.GetProperties().Select(p => p.Name).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var sampler = new JsonObject { [SamplerJsonConverter.NameField] = name };
        foreach (var field in SamplerFields)
        {
            var moved = sampling[field];
            sampling.Remove(field);
            if (moved is not null && properties.Contains(field)) sampler[field] = moved.DeepClone();
        }
        if (gridField is not null && sampling[gridField] is { } grid)
        {
            sampling.Remove(gridField);
            sampler["timesteps"] = grid.DeepClone();
        }
        sampling["sampler"] = sampler;
    }
}
