using LatentDiffusion.Diffusion;
using LatentDiffusion.Training;

namespace LatentDiffusion.MLNet.Denoising;

/// <summary>
/// What the diffusion transformer and the generator save alike in their <c>Config.json</c> block: how requests are
/// read (label and seed columns, default seed) and sampled, the diffusion model's config and its training histories.
/// </summary>
internal abstract record RequestSettings
{
    public string? LabelColumn { get; init; } = "Label";
    public string SeedColumn { get; init; } = "Seed";
    public int Seed { get; init; }
    public SamplingOptions Sampling { get; init; } = new();
    public DiffusionModelConfig Model { get; init; } = new();
    public EpochRecord[] History { get; init; } = [];
    public EpochRecord[] AutoguidanceHistory { get; init; } = [];
}
