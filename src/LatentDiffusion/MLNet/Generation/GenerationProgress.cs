
namespace LatentDiffusion.MLNet.Generation;

/// <summary>Progress of a generator (see <see cref="DigitGeneratorTransformer.WithProgress"/>): images generated so far.</summary>
public readonly record struct GenerationProgress(long Images);
