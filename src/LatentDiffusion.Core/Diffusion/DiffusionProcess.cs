
namespace LatentDiffusion.Diffusion;

/// <summary>
/// What sampling needs to know about a trained model besides its networks: the data's shape and classes, the forward
/// process (schedule, T, objective), the data's standardisation and range, and whether an autoguidance denoiser exists.
/// The TorchSharp engine takes it from the model's config (<see cref="DiffusionModelConfig.Process"/>); an exported
/// folder states it for the ONNX Runtime engine. Both sample with it through <see cref="SamplingLoop"/>.
/// </summary>
public sealed record DiffusionProcess
{
    /// <summary>Shape of one sample: (channels, height, width) for images, (length) for vectors.</summary>
    public int[] DataShape { get; init; } = [];

    /// <summary>Classes the denoiser is conditioned on; 0 = unconditional. The null class is <see cref="Classes"/> itself.</summary>
    public int Classes { get; init; }

    /// <summary>The noise schedule of the forward process.</summary>
    public NoiseScheduleKind Schedule { get; init; } = NoiseScheduleKind.Linear;

    /// <summary>T, the number of diffusion steps.</summary>
    public int Timesteps { get; init; } = 1000;

    /// <summary>What the denoiser predicts.</summary>
    public DiffusionObjective Objective { get; init; } = DiffusionObjective.Epsilon;

    /// <summary>
    /// Per-index mean of the training data along its first dimension (each channel of an image, each element of a
    /// vector), subtracted before diffusion and added back to samples; empty when the data was used as it came.
    /// </summary>
    public float[] DataShift { get; init; } = [];

    /// <summary>Per-index standard deviation matching <see cref="DataShift"/>, divided out before diffusion; empty when none.</summary>
    public float[] DataScale { get; init; } = [];

    /// <summary>
    /// Per-index smallest value of the training data along its first dimension, in the units the denoiser sees (after
    /// standardisation); with <see cref="DataMax"/> the box predicted clean samples are clipped to
    /// (<see cref="SamplingOptions.ClipToDataRange"/>). Empty for models trained before it was recorded.
    /// </summary>
    public float[] DataMin { get; init; } = [];

    /// <summary>Per-index largest value of the training data; see <see cref="DataMin"/>.</summary>
    public float[] DataMax { get; init; } = [];

    /// <summary>
    /// A self-labelled model's cluster shares: the denoiser is conditioned on clusters of its unlabelled training data,
    /// this is each cluster's share of the rows, and a request without a label draws its cluster from them by its seed
    /// (<see cref="DiffusionProcess.RequestLabels"/>). Null for every other model (and not written then).
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public double[]? ClusterShares { get; init; }

    /// <summary>Whether the model has the weaker denoiser autoguidance steers away from.</summary>
    public bool HasAutoguidance { get; init; }

    /// <summary>Floats in one sample.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public int DataSize => DataShape.Aggregate(1, (a, b) => a * b);

    /// <summary>
    /// The labels the denoiser is given for <paramref name="labels"/> (-1: none) and their <paramref name="seeds"/>: the
    /// same, but for a self-labelled model, whose unlabelled requests draw a cluster in proportion to
    /// <see cref="ClusterShares"/> from a hash of their seed, apart from the seed's noise (the same cluster on every engine
    /// and in every batch).
    /// </summary>
    public int[] RequestLabels(ReadOnlySpan<int> labels, ReadOnlySpan<long> seeds)
    {
        var result = labels.ToArray();
        if (ClusterShares is not { Length: > 0 } shares) return result;
        for (int i = 0; i < result.Length; i++)
            if (result[i] < 0) result[i] = Draw(shares, seeds[i]);
        return result;
    }

    /// <summary>
    /// The cluster a seed draws: SplitMix64 of the seed (offset, so the draw is not the noise's) as a uniform number,
    /// against the cumulative shares.
    /// </summary>
    private static int Draw(double[] shares, long seed)
    {
        ulong z = unchecked((ulong)seed + 0x632BE59BD9B4E019UL + 0x9E3779B97F4A7C15UL);
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        z ^= z >> 31;
        double u = (z >> 11) * (1.0 / (1UL << 53)) * shares.Sum();
        double cumulative = 0;
        for (int c = 0; c < shares.Length; c++)
        {
            cumulative += shares[c];
            if (u < cumulative) return c;
        }
        return shares.Length - 1;
    }

    /// <summary>The schedule these settings describe.</summary>
    public NoiseSchedule CreateSchedule() => new(Schedule, Timesteps);

    /// <summary>Checks every part, naming it; <paramref name="source"/> names where the settings came from.</summary>
    public void Validate(string source)
    {
        if (DataShape is null || DataShape.Length == 0 || DataShape.Any(d => d is < 1 or > Models.DenoiserConfig.MaxSide))
            throw new ArgumentOutOfRangeException(nameof(DataShape), $"[{string.Join(", ", DataShape ?? [])}]",
                $"The data shape of {source} must have every dimension in 1..{Models.DenoiserConfig.MaxSide}, got [{string.Join(", ", DataShape ?? [])}].");
        if (Classes is < 0 or > Models.DenoiserConfig.MaxClasses)
            throw new ArgumentOutOfRangeException(nameof(Classes), Classes,
                $"The class count of {source} must be in 0..{Models.DenoiserConfig.MaxClasses}, got {Classes}.");
        if (!Enum.IsDefined(Schedule))
            throw new ArgumentOutOfRangeException(nameof(Schedule), Schedule, $"The diffusion model of {source} has an unknown noise schedule.");
        if (Timesteps is < 2 or > DiffusionModelConfig.MaxTimesteps)
            throw new ArgumentOutOfRangeException(nameof(Timesteps), Timesteps,
                $"The diffusion model of {source} needs 2..{DiffusionModelConfig.MaxTimesteps} timesteps, got {Timesteps}.");
        if (!Enum.IsDefined(Objective))
            throw new ArgumentOutOfRangeException(nameof(Objective), Objective, $"The diffusion model of {source} has an unknown objective.");
        int channels = DataShape[0];
        if (DataShift is null || DataScale is null || DataShift.Length != DataScale.Length || DataShift.Length is not 0 && DataShift.Length != channels)
            throw new ArgumentOutOfRangeException(nameof(DataShift), DataShift?.Length,
                $"The diffusion model of {source} needs one data shift and scale per index of the first data dimension ({channels}), or none.");
        if (DataShift.Any(v => !float.IsFinite(v)) || DataScale.Any(v => !float.IsFinite(v) || v <= 0))
            throw new ArgumentOutOfRangeException(nameof(DataScale),
                $"The diffusion model of {source} has a data shift or scale that is not a finite number (scales must be positive).");
        if (ClusterShares is { } shares && (shares.Length != Classes || shares.Any(s => !double.IsFinite(s) || s < 0) || !(shares.Sum() > 0)))
            throw new ArgumentOutOfRangeException(nameof(ClusterShares), shares.Length,
                $"The self-labelled model of {source} needs one finite, non-negative share per cluster ({Classes}), not all zero; got {shares.Length} shares.");
        if (DataMin is null || DataMax is null || DataMin.Length != DataMax.Length || DataMin.Length is not 0 && DataMin.Length != channels
            || DataMin.Zip(DataMax).Any(p => !float.IsFinite(p.First) || !float.IsFinite(p.Second) || p.First > p.Second))
            throw new ArgumentOutOfRangeException(nameof(DataMin), DataMin?.Length,
                $"The diffusion model of {source} needs a finite data range (min <= max) per index of the first data dimension ({channels}), or none.");
    }
}
