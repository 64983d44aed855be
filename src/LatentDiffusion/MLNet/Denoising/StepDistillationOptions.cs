namespace LatentDiffusion.MLNet.Denoising;

/// <summary>
/// Options of <see cref="StepDistiller"/>: the training data's columns, the student's training, the grid of DDIM steps
/// it learns and how finely the teacher walks each of its intervals.
/// </summary>
public sealed class StepDistillationOptions : DistillationOptions
{
    /// <summary>Creates the options: 4 steps, 8 teacher substeps per step, 2 epochs.</summary>
    public StepDistillationOptions() => Epochs = 2;

    /// <summary>
    /// DDIM steps of the student, one network pass each. Default 4. Ignored when <see cref="Timesteps"/> is given; else
    /// the grid is evenly spaced and ends one interval above the clean sample (T-1, T-1 - T/steps, ...).
    /// </summary>
    public int Steps { get; set; } = 4;

    /// <summary>
    /// An explicit grid of timesteps the student's steps start from, descending and distinct; null (default): <see
    /// cref="Steps"/> even steps.
    /// </summary>
    public int[]? Timesteps { get; set; }

    /// <summary>
    /// DDIM steps the teacher takes over each of the student's intervals, with its saved guidance (each costs the
    /// teacher's passes per step). More: a target nearer the teacher's exact trajectory, at that cost per row. Default 8.
    /// </summary>
    public int TeacherSubsteps { get; set; } = 8;

    /// <inheritdoc/>
    internal override void Validate()
    {
        const string Owner = nameof(StepDistillationOptions);
        OptionChecks.InRange(Steps, 1, 1000, nameof(Steps), Owner);
        OptionChecks.InRange(TeacherSubsteps, 1, 1000, nameof(TeacherSubsteps), Owner);
        if (Timesteps is { Length: 0 })
            throw new ArgumentOutOfRangeException(nameof(Timesteps), "[]", $"{Owner}.Timesteps must hold at least one timestep, or be null.");
        ValidateDistillation(Owner);
    }
}
