
namespace LatentDiffusion.Diffusion.Samplers;

/// <summary>
/// The name a sampler goes by in model files, exported folders and on the command line: the one place it is spelled.
/// Every sampler class carries one.
/// </summary>
/// <param name="name">Letters and digits, unique among the registered samplers (compared without case).</param>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class SamplerAttribute(string name) : Attribute
{
    /// <summary>The sampler's name.</summary>
    public string Name { get; } = name;
}
