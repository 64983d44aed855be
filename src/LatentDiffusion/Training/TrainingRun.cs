using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using static TorchSharp.torch;

namespace LatentDiffusion.Training;

/// <summary>How one model is trained, whatever the model: optimisation, seed, number format, device, reporting, cancellation.</summary>
internal sealed record TrainingRun
{
    public int BatchSize { get; init; } = 128;
    public double LearningRate { get; init; } = 2e-3;
    public int Seed { get; init; } = 1;
    public TrainingPrecision Precision { get; init; }
    public required Device Device { get; init; }
    public ILogger Logger { get; init; } = NullLogger.Instance;
    public IProgress<TrainingProgress>? Progress { get; init; }
    public CancellationToken CancellationToken { get; init; }
    /// <summary>Wall-clock limit of the main network's loop (a budgeted <see cref="MinibatchLoop"/> shortens its plan to fit it); null: none.</summary>
    public TimeSpan? TimeBudget { get; init; }
    /// <summary>Folder of the loops' checkpoints (one file per loop, named after its model); null: none.</summary>
    public string? CheckpointDirectory { get; init; }
    public TimeSpan CheckpointInterval { get; init; } = TimeSpan.FromMinutes(5);
    public bool ResumeFromCheckpoint { get; init; }

    /// <summary>The minibatch loop of <paramref name="epochs"/> epochs over <paramref name="rows"/> rows, reported as <paramref name="model"/>.</summary>
    public MinibatchLoop Loop(string model, long rows, int epochs, bool budgeted = true) =>
        new() { Settings = this, Model = model, Rows = rows, Epochs = epochs, Budgeted = budgeted };

    /// <summary>Rows held out for validation: the last <paramref name="fraction"/> of them, in input order.</summary>
    public static (int Train, int Validation) Split(int rows, double fraction)
    {
        int validation = (int)(rows * fraction);
        return (rows - validation, validation);
    }
}
