namespace LatentDiffusion.Training;

/// <summary>Where a training loop writes its checkpoint, how often, and whether it starts from one.</summary>
/// <param name="Path">The checkpoint file.</param>
/// <param name="Interval">Time between checkpoints while training (one is also written when training is cancelled and when it ends).</param>
/// <param name="Resume">Continue from the file when it exists.</param>
internal sealed record CheckpointSettings(string Path, TimeSpan Interval, bool Resume);

/// <summary>Where a training loop stands: enough to continue it exactly as if it had never stopped.</summary>
internal sealed record LoopPosition
{
    public string Model { get; init; } = "";
    public long Rows { get; init; }
    public int BatchSize { get; init; }
    public int Epochs { get; init; }
    public int Seed { get; init; }
    public TrainingPrecision Precision { get; init; }
    /// <summary>The peak learning rate; 0 in checkpoints written before it was recorded (not compared then).</summary>
    public double LearningRate { get; init; }
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
