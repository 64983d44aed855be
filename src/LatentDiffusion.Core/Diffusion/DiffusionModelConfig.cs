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

    /// <summary>
    /// A self-labelled model's cluster shares: the denoiser is conditioned on clusters of its unlabelled training data,
    /// this is each cluster's share of the rows, and a request without a label draws its cluster from them by its seed
    /// (<see cref="DiffusionProcess.RequestLabels"/>). Null for every other model (and not written then).
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public double[]? ClusterShares { get; init; }

    /// <summary>Largest accepted T.</summary>
    public const int MaxTimesteps = 100_000;

    /// <summary>
    /// Checks every part before anything is allocated (what each network needs beyond this is checked where it is
    /// built); <paramref name="source"/> names where the config came from.
    /// </summary>
    public void Validate(string source)
    {
        if (Denoiser is null) throw new ArgumentOutOfRangeException(nameof(Denoiser), $"The diffusion model of {source} has no denoiser.");
        Denoiser.Validate(source);
        Process.Validate(source);
        if (Autoguidance is null) return;
        Autoguidance.Validate(source);
        if (!Autoguidance.DataShape.SequenceEqual(Denoiser.DataShape) || Autoguidance.Classes != Denoiser.Classes)
            throw new ArgumentOutOfRangeException(nameof(Autoguidance),
                $"The autoguidance denoiser of {source} must see the same data shape and classes as the denoiser.");
    }

    /// <summary>What sampling needs to know about this model besides its networks.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public DiffusionProcess Process => new()
    {
        DataShape = Denoiser.DataShape, Classes = Denoiser.Classes, Schedule = Schedule, Timesteps = Timesteps, Objective = Objective,
        DataShift = DataShift, DataScale = DataScale, DataMin = DataMin, DataMax = DataMax, HasAutoguidance = Autoguidance is not null,
        ClusterShares = ClusterShares,
    };
}
