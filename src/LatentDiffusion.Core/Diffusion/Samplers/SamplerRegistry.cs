using System.Reflection;

namespace LatentDiffusion.Diffusion.Samplers;

/// <summary>
/// The samplers a model file, an exported folder or a command line may name: the built-in ones, and any an application
/// registers. A sampler is found by the name its <see cref="SamplerAttribute"/> gives (without regard to case).
/// </summary>
public static class SamplerRegistry
{
    private static readonly object Gate = new();
    private static readonly Dictionary<string, Type> ByName = new(StringComparer.OrdinalIgnoreCase);
    private static readonly Dictionary<Type, string> ByType = [];

    /// <summary>
    /// The library's own samplers: the five of the legacy numbering first, in that order, then every other sampler this
    /// assembly declares, by name. A new built-in sampler is its one file.
    /// </summary>
    static SamplerRegistry()
    {
        foreach (var type in BuiltIn) Add(type);
        var declared = typeof(SamplerRegistry).Assembly.GetTypes()
            .Where(t => !t.IsAbstract && t.IsSubclassOf(typeof(DiffusionSampler)) && t.GetCustomAttribute<SamplerAttribute>() is not null);
        foreach (var type in declared.OrderBy(t => t.Name, StringComparer.Ordinal)) Add(type);
    }

    /// <summary>
    /// The sampler that model files of format versions 1 to 4 stored as <paramref name="number"/>, with its default
    /// settings; null for a number they never used.
    /// </summary>
    public static DiffusionSampler? Legacy(int number) =>
        number >= 0 && number < BuiltIn.Length ? (DiffusionSampler)Activator.CreateInstance(BuiltIn[number])! : null;

    /// <summary>The samplers of format versions 1 to 4, in the order of the numbers those stored.</summary>
    private static readonly Type[] BuiltIn =
        [typeof(DdimSampler), typeof(DdpmSampler), typeof(DpmSolverPlusPlusSampler), typeof(UniPcSampler), typeof(HeunSampler)];

    /// <summary>
    /// Makes <typeparamref name="TSampler"/> known by its <see cref="SamplerAttribute"/> name, so that models saved with
    /// it load and both engines run it. Registering the same type again does nothing; another type under a taken name
    /// is refused.
    /// </summary>
    public static void Register<TSampler>() where TSampler : DiffusionSampler, new() => Add(typeof(TSampler));

    private static void Add(Type type)
    {
        var attribute = type.GetCustomAttribute<SamplerAttribute>()
            ?? throw new ArgumentException($"{type.Name} has no [Sampler(\"name\")] attribute: a sampler needs the name model files store.", nameof(type));
        string name = attribute.Name;
        if (name.Length == 0 || !name.All(char.IsAsciiLetterOrDigit))
            throw new ArgumentException($"{type.Name}'s sampler name '{name}' must be letters and digits.", nameof(type));
        lock (Gate)
        {
            if (ByName.TryGetValue(name, out var existing))
            {
                if (existing == type) return;
                throw new ArgumentException($"The sampler name '{name}' of {type.Name} is taken by {existing.Name}.", nameof(type));
            }
            ByName[name] = type;
            ByType[type] = name;
        }
    }

    /// <summary>Every registered sampler's name, for messages and command-line choices.</summary>
    public static IReadOnlyList<string> Names
    {
        get
        {
            lock (Gate) return [.. ByName.Keys];
        }
    }

    /// <summary>The registered name of <paramref name="type"/>; an unregistered sampler type is refused, naming it.</summary>
    public static string NameOf(Type type)
    {
        lock (Gate)
            if (ByType.TryGetValue(type, out var name)) return name;
        throw new InvalidOperationException($"The sampler {type.Name} is not registered: call SamplerRegistry.Register<{type.Name}>() before using it.");
    }

    /// <summary>The sampler type registered under <paramref name="name"/>, or null.</summary>
    public static Type? Find(string name)
    {
        lock (Gate) return ByName.GetValueOrDefault(name);
    }

    /// <summary>
    /// A sampler named <paramref name="name"/> with its default settings; an unknown name is refused with the known
    /// ones.
    /// </summary>
    public static DiffusionSampler Create(string name) => (DiffusionSampler)Activator.CreateInstance(Find(name)
        ?? throw new ArgumentOutOfRangeException(nameof(name), name, $"Unknown sampler '{name}'; expected one of {string.Join(", ", Names)}."))!;
}
