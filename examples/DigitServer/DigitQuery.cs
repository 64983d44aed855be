using System.Globalization;
using LatentDiffusion.Diffusion;
using LatentDiffusion.Diffusion.Samplers;

namespace DigitServer;

/// <summary>
/// What a client asks for, read from the query string: <c>label</c>, <c>count</c>, <c>seed</c> (image i gets seed + i),
/// <c>sampler</c> and <c>steps</c>, each optional and bounded. A bad value is refused with one sentence that names the
/// parameter, what it takes and what it got.
/// </summary>
public sealed record DigitQuery(int Label, int Count, long Seed, SamplingOptions Sampling)
{
    /// <summary>Images per request, at most.</summary>
    public const int MaxCount = 64;

    /// <summary>Sampler steps, at most.</summary>
    public const int MaxSteps = 200;

    public int[] Labels => [.. Enumerable.Repeat(Label, Count)];

    public long[] Seeds => [.. Enumerable.Range(0, Count).Select(i => Seed + i)];

    /// <summary>The request, or the sentence that refuses it.</summary>
    public static (DigitQuery? Query, string? Error) Parse(IQueryCollection query, IDigitEngine engine)
    {
        var sampling = engine.Sampling;
        try
        {
            int label = Integer(query, "label", engine.Classes > 0 ? 0 : -1, -1, Math.Max(engine.Classes - 1, -1),
                engine.Classes > 0 ? $"a digit class from 0 to {engine.Classes - 1}, or -1 for any" : "-1: the model was trained without labels");
            int count = Integer(query, "count", 16, 1, MaxCount, $"from 1 to {MaxCount} images");
            long seed = Integer(query, "seed", 0, 0, long.MaxValue - MaxCount, "a whole number from 0");
            var sampler = sampling.Sampler;
            if (query.TryGetValue("sampler", out var name) && !string.IsNullOrEmpty(name))
            {
                var known = SamplerRegistry.Names.FirstOrDefault(n => string.Equals(n, name, StringComparison.OrdinalIgnoreCase))
                    ?? throw new FormatException($"Parameter 'sampler' must be one of {string.Join(", ", SamplerRegistry.Names)}; got '{name}'.");
                if (!string.Equals(known, sampler.Name, StringComparison.OrdinalIgnoreCase)) sampler = SamplerRegistry.Create(known);
            }
            int steps = (int)Integer(query, "steps", sampler.Steps, 1, MaxSteps, $"from 1 to {MaxSteps}");
            if (steps != sampling.Sampler.Steps || !ReferenceEquals(sampler, sampling.Sampler)) sampler = sampler with { Steps = steps, Timesteps = null };
            sampling.Sampler = sampler;
            engine.Validate(sampling);
            return (new DigitQuery(label, count, seed, sampling), null);
        }
        catch (Exception e) when (e is FormatException or ArgumentException)
        {
            // ArgumentException appends " (Parameter 'x')" to its sentence; the sentence already names it.
            return (null, e is ArgumentException a && a.ParamName is not null ? a.Message.Split(" (Parameter")[0] : e.Message);
        }
    }

    private static long Integer(IQueryCollection query, string name, long fallback, long min, long max, string expected)
    {
        if (!query.TryGetValue(name, out var text) || string.IsNullOrEmpty(text)) return fallback;
        if (text.Count > 1) throw new FormatException($"Parameter '{name}' was given {text.Count} times; give it once.");
        if (!long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long value) || value < min || value > max)
            throw new FormatException($"Parameter '{name}' must be {expected}; got '{text}'.");
        return value;
    }

    private static int Integer(IQueryCollection query, string name, int fallback, int min, int max, string expected) =>
        (int)Integer(query, name, (long)fallback, min, max, expected);
}
