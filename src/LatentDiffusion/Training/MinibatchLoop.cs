using LatentDiffusion.IO;
using Microsoft.Extensions.Logging;
using TorchSharp;
using static TorchSharp.torch;

namespace LatentDiffusion.Training;

/// <summary>
/// What every training loop here shares: shuffled minibatches, an optimiser step, a learning-rate schedule, an optional
/// weight average, a wall-clock budget, and checkpoints from which a stopped run continues exactly as if it had not
/// stopped.
/// </summary>
internal sealed class MinibatchLoop
{
    /// <summary>The run's settings: batch size, learning rate, seed, precision, device, reporting, budget, checkpoints.</summary>
    public required TrainingRun Settings { get; init; }
    /// <summary>The network trained, in logs, progress reports and the checkpoint's file name.</summary>
    public required string Model { get; init; }
    public required long Rows { get; init; }
    public required int Epochs { get; init; }
    /// <summary>Whether the run's time budget applies to this loop (it applies to a component's main network only).</summary>
    public bool Budgeted { get; init; } = true;
    public double WeightDecay { get; init; } = 1e-4;
    public int WarmupSteps { get; init; } = 200;

    /// <summary>What a checkpoint must have been written with for this loop to resume from it.</summary>
    public LoopIdentity Identity => new(Model, Rows, Settings.BatchSize, Epochs, Settings.Seed, Settings.Precision, Settings.LearningRate, shuffle);

    private string? shuffle;

    internal int BatchSize => Settings.BatchSize;
    internal double LearningRate => Settings.LearningRate;
    internal ILogger Logger => Settings.Logger;

    /// <summary>
    /// Wall-clock limit: after <see cref="BudgetProbeSteps"/> steps the loop measures its speed and shortens the plan
    /// (and the learning-rate schedule with it) to the steps that fit; it also stops when the time is up. Null: the
    /// epochs decide. A budgeted run is not reproducible: how far it gets depends on the machine's speed.
    /// </summary>
    internal TimeSpan? TimeBudget => Budgeted ? Settings.TimeBudget : null;

    /// <summary>Where and how often to write checkpoints, and whether to resume from one; null: none.</summary>
    internal CheckpointSettings? Checkpoints => Settings.CheckpointDirectory is { } folder
        ? new CheckpointSettings(Path.Combine(folder, $"{Model}.checkpoint"), Settings.CheckpointInterval, Settings.ResumeFromCheckpoint)
        : null;

    /// <summary>Steps timed before a budgeted run fits its plan to the budget.</summary>
    public const int BudgetProbeSteps = 30;


    /// <summary>The optimiser step the loss being computed belongs to (0-based, counted over the whole run, resumed runs included).</summary>
    public long CurrentStep { get; internal set; }

    /// <summary>
    /// Trains <paramref name="work"/>'s module over the minibatches of its batches (of <see cref="Rows"/> rows) and
    /// returns the per-epoch history. The module must take and return float32 whatever its own number format (see
    /// <see cref="TrainingPrecision"/>); between epochs, when the validation loss runs, it is float32.
    /// </summary>
    public TrainingHistory Run(LoopWork work, CancellationToken cancellationToken = default)
    {
        if (work.Batches.Rows != Rows) throw new ArgumentException($"The loop runs over {Rows} rows, but its batches hold {work.Batches.Rows}.", nameof(work));
        shuffle = work.Batches.Shuffle;
        using var run = new LoopRun(this, work, cancellationToken);
        return run.Execute();
    }

    /// <summary>"BatchSize" as "batch size".</summary>
    private static string Words(string name) => System.Text.RegularExpressions.Regex.Replace(name, "(?<=[a-z])([A-Z])", " $1").ToLowerInvariant();

    /// <summary>Loads a checkpoint into the run's state, after checking it belongs to this run.</summary>
    internal LoopPosition Restore(string path, TrainingWeights weights, optim.Optimizer optimizer, ExponentialMovingAverage? average, Generator generator,
        IReadOnlyDictionary<string, CheckpointPart>? extraState, out Tensor? order)
    {
        var (position, blobs) = TrainingCheckpoint.Read(path);
        var differences = typeof(LoopIdentity).GetProperties()
            .Select(p => (p.Name, Saved: p.GetValue(position.Run), Now: p.GetValue(Identity)))
            .Where(d => !Equals(d.Saved, d.Now))
            .Select(d => $"{Words(d.Name)} {d.Saved} (now {d.Now})")
            .ToList();
        if (differences.Count > 0)
            throw new InvalidDataException($"Checkpoint '{path}' belongs to another run: {string.Join(", ", differences)}. Delete it to start afresh, "
                + $"or resume with the settings it was written with.");
        string Blob(string name) => blobs.ContainsKey(name) ? name : throw new InvalidDataException($"Checkpoint '{path}' lacks its {name}.");
        using (var r = new BinaryReader(new MemoryStream(blobs[Blob("weights")]))) ModuleWeights.Read(r, weights.State(), $"{path}: weights");
        weights.AfterRestore();
        using (var r = new BinaryReader(new MemoryStream(blobs[Blob("optimizer")]))) ((TorchSharp.Modules.OptimizerHelper)optimizer).load_state_dict(r);
        if (average is not null)
        {
            using var r = new BinaryReader(new MemoryStream(blobs[Blob("average")]));
            ModuleWeights.Read(r, average.Targets, $"{path}: average");
            average.Updates = position.AverageUpdates;
        }
        foreach (var (name, part) in extraState ?? new Dictionary<string, CheckpointPart>())
        {
            using var r = new BinaryReader(new MemoryStream(blobs[Blob(name)]));
            part.Read(r);
        }
        using (var state = TrainingCheckpoint.ReadTensor(blobs[Blob("generator")], "generator state")) generator.set_state(state);
        using (var state = TrainingCheckpoint.ReadTensor(blobs[Blob("globalGenerator")], "global generator state")) torch.random.set_rng_state(state);
        // Saved inside an epoch (also before its first step): the epoch's order, already drawn from the generator.
        order = blobs.TryGetValue("order", out var saved) ? TrainingCheckpoint.ReadTensor(saved, "shuffle") : null;
        return position;
    }
}

/// <summary>State a training loop's caller keeps beside the loop's own, written into its checkpoints and read back on resume.</summary>
internal sealed record CheckpointPart(Action<BinaryWriter> Write, Action<BinaryReader> Read);
