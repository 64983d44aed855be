namespace LatentDiffusion.Training;

/// <summary>One finished epoch: mean training loss, validation loss (NaN when there is no validation set), speed.</summary>
public sealed record EpochRecord(int Epoch, double TrainLoss, double ValidationLoss, double Seconds, double SamplesPerSecond);

/// <summary>A progress report during training, for progress bars.</summary>
/// <param name="Model">Which model is training (for example "vae", "diffusion", "classifier").</param>
/// <param name="Step">Optimiser steps done.</param>
/// <param name="TotalSteps">Optimiser steps planned.</param>
/// <param name="Epoch">Current epoch, from 1.</param>
/// <param name="Loss">Running mean loss of the current epoch.</param>
public readonly record struct TrainingProgress(string Model, long Step, long TotalSteps, int Epoch, double Loss);

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
