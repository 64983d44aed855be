using LatentDiffusion.Models;

namespace LatentDiffusion.Diffusion;

/// <summary>Everything needed to rebuild a trained diffusion model before its weights are loaded.</summary>
public sealed record DiffusionModelConfig
{
    /// <summary>The denoiser network.</summary>
    public DenoiserConfig Denoiser { get; init; } = new();

    /// <summary>The noise schedule of the forward process.</summary>
    public NoiseScheduleKind Schedule { get; init; } = NoiseScheduleKind.Linear;

    /// <summary>T, the number of diffusion steps.</summary>
    public int Timesteps { get; init; } = 1000;

    /// <summary>What the denoiser predicts.</summary>
    public DiffusionObjective Objective { get; init; } = DiffusionObjective.Epsilon;

    /// <summary>The weaker denoiser that autoguidance steers away from (same data and classes), or null when none was trained.</summary>
    public DenoiserConfig? Autoguidance { get; init; }

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

    /// <summary>Largest accepted T.</summary>
    internal const int MaxTimesteps = 100_000;

    /// <summary>Checks every part before anything is allocated; <paramref name="source"/> names where the config came from.</summary>
    internal void Validate(string source)
    {
        if (Denoiser is null) throw new ArgumentOutOfRangeException(nameof(Denoiser), $"The diffusion model of {source} has no denoiser.");
        Denoisers.Validate(Denoiser, source);
        if (!Enum.IsDefined(Schedule))
            throw new ArgumentOutOfRangeException(nameof(Schedule), Schedule, $"The diffusion model of {source} has an unknown noise schedule.");
        if (Timesteps is < 2 or > MaxTimesteps)
            throw new ArgumentOutOfRangeException(nameof(Timesteps), Timesteps, $"The diffusion model of {source} needs 2..{MaxTimesteps} timesteps.");
        if (!Enum.IsDefined(Objective))
            throw new ArgumentOutOfRangeException(nameof(Objective), Objective, $"The diffusion model of {source} has an unknown objective.");
        if (DataShift.Length != DataScale.Length || DataShift.Length is not 0 && DataShift.Length != Denoiser.DataShape[0])
            throw new ArgumentOutOfRangeException(nameof(DataShift), DataShift.Length,
                $"The diffusion model of {source} needs one data shift and scale per index of the first data dimension ({Denoiser.DataShape[0]}), or none.");
        if (DataShift.Any(v => !float.IsFinite(v)) || DataScale.Any(v => !float.IsFinite(v) || v <= 0))
            throw new ArgumentOutOfRangeException(nameof(DataScale),
                $"The diffusion model of {source} has a data shift or scale that is not a finite number (scales must be positive).");
        if (DataMin.Length != DataMax.Length || DataMin.Length is not 0 && DataMin.Length != Denoiser.DataShape[0]
            || DataMin.Zip(DataMax).Any(p => !float.IsFinite(p.First) || !float.IsFinite(p.Second) || p.First > p.Second))
            throw new ArgumentOutOfRangeException(nameof(DataMin), DataMin.Length,
                $"The diffusion model of {source} needs a finite data range (min <= max) per index of the first data dimension "
                    + $"({Denoiser.DataShape[0]}), or none.");
        if (Autoguidance is null) return;
        Denoisers.Validate(Autoguidance, source);
        if (!Autoguidance.DataShape.SequenceEqual(Denoiser.DataShape) || Autoguidance.Classes != Denoiser.Classes)
            throw new ArgumentOutOfRangeException(nameof(Autoguidance),
                $"The autoguidance denoiser of {source} must see the same data shape and classes as the denoiser.");
    }
}
