
namespace LatentDiffusion.Training;

/// <summary>One finished epoch: mean training loss, validation loss (NaN when there is no validation set), speed.</summary>
public sealed record EpochRecord(int Epoch, double TrainLoss, double ValidationLoss, double Seconds, double SamplesPerSecond);

/// <summary>The per-epoch losses of a training run, kept by fitted transformers for loss curves.</summary>
public sealed class TrainingHistory
{
    private readonly List<EpochRecord> epochs = [];

    /// <summary>Creates an empty history.</summary>
    public TrainingHistory() { }

    /// <summary>Creates a history from records (used when loading a saved model).</summary>
    public TrainingHistory(IEnumerable<EpochRecord> records) => epochs.AddRange(records);

    /// <summary>The finished epochs in order.</summary>
    public IReadOnlyList<EpochRecord> Epochs => epochs;

    /// <summary>Total training time in seconds.</summary>
    public double TotalSeconds => epochs.Sum(e => e.Seconds);

    /// <summary>Mean training throughput over all epochs (samples per second).</summary>
    public double SamplesPerSecond => epochs.Count == 0 ? 0 : epochs.Sum(e => e.SamplesPerSecond * e.Seconds) / Math.Max(TotalSeconds, 1e-9);

    internal void Add(EpochRecord record) => epochs.Add(record);
}
