
namespace LatentDiffusion.Training;

/// <summary>Where a training loop writes its checkpoint, how often, and whether it starts from one.</summary>
/// <param name="Path">The checkpoint file.</param>
/// <param name="Interval">Time between checkpoints while training (one is also written when training is cancelled and when it ends).</param>
/// <param name="Resume">Continue from the file when it exists.</param>
internal sealed record CheckpointSettings(string Path, TimeSpan Interval, bool Resume);

/// <summary>
/// What identifies a training loop's run: a checkpoint resumes only a loop with the same (see <see cref="MinibatchLoop.Identity"/>).
/// <paramref name="Shuffle"/> is <see cref="IBatchSource.Shuffle"/> (null, as in checkpoints written before streaming: rows in memory).
/// </summary>
internal sealed record LoopIdentity(string Model, long Rows, int BatchSize, int Epochs, int Seed, TrainingPrecision Precision, double LearningRate,
    string? Shuffle = null);

/// <summary>Where a training loop stands: enough to continue it exactly as if it had never stopped.</summary>
internal sealed record LoopPosition
{
    /// <summary>The run the checkpoint belongs to; resuming needs the same.</summary>
    public LoopIdentity Run { get; init; } = new("", 0, 0, 0, 0, default, 0);
    /// <summary>The epoch under way (from 1) and the next minibatch of it; a finished run has <see cref="Complete"/> set.</summary>
    public int Epoch { get; init; }
    public long Batch { get; init; }
    public long Step { get; init; }
    public long TotalSteps { get; init; }
    /// <summary>Sum of the losses of the epoch under way so far.</summary>
    public double LossSum { get; init; }
    public double EpochSeconds { get; init; }
    public long AverageUpdates { get; init; }
    public bool Complete { get; init; }
    public EpochRecord[] History { get; init; } = [];
}
