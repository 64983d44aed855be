using System.Diagnostics;
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

    private int BatchSize => Settings.BatchSize;
    private double LearningRate => Settings.LearningRate;
    private ILogger Logger => Settings.Logger;

    /// <summary>
    /// Wall-clock limit: after <see cref="BudgetProbeSteps"/> steps the loop measures its speed and shortens the plan
    /// (and the learning-rate schedule with it) to the steps that fit; it also stops when the time is up. Null: the
    /// epochs decide. A budgeted run is not reproducible: how far it gets depends on the machine's speed.
    /// </summary>
    private TimeSpan? TimeBudget => Budgeted ? Settings.TimeBudget : null;

    /// <summary>Where and how often to write checkpoints, and whether to resume from one; null: none.</summary>
    private CheckpointSettings? Checkpoints => Settings.CheckpointDirectory is { } folder
        ? new CheckpointSettings(Path.Combine(folder, $"{Model}.checkpoint"), Settings.CheckpointInterval, Settings.ResumeFromCheckpoint)
        : null;

    /// <summary>Steps timed before a budgeted run fits its plan to the budget.</summary>
    public const int BudgetProbeSteps = 30;


    /// <summary>The optimiser step the loss being computed belongs to (0-based, counted over the whole run, resumed runs included).</summary>
    public long CurrentStep { get; private set; }

    /// <summary>
    /// Runs the loop over the minibatches of <paramref name="batches"/> (of <see cref="Rows"/> rows). <paramref name="lossOf"/>
    /// maps a minibatch (its values and labels) and the run's CPU generator to a scalar float32 loss (with a graph);
    /// <paramref name="average"/>, when given,
    /// is updated with the float32 weights after each optimiser step. The module must take and return float32 whatever
    /// its own number format (see <see cref="TrainingPrecision"/>); between epochs, when <paramref name="validationLoss"/>
    /// runs, it is float32. <paramref name="afterStep"/> runs after each optimiser step, inside the step's dispose scope;
    /// <paramref name="extraState"/> is state it keeps (a second network and its optimiser, say), written into every
    /// checkpoint and read back on resume under the given names.
    /// </summary>
    public TrainingHistory Run(nn.Module module, IBatchSource batches, Func<Tensor, Tensor?, Generator, Tensor> lossOf, Func<double>? validationLoss = null,
        ExponentialMovingAverage? average = null, CancellationToken cancellationToken = default, Action<TrainingWeights>? afterStep = null,
        IReadOnlyDictionary<string, CheckpointPart>? extraState = null)
    {
        if (batches.Rows != Rows) throw new ArgumentException($"The loop runs over {Rows} rows, but its batches hold {batches.Rows}.", nameof(batches));
        shuffle = batches.Shuffle;
        long stepsPerEpoch = (Rows + BatchSize - 1) / BatchSize;
        long plannedSteps = stepsPerEpoch * Epochs, totalSteps = plannedSteps;
        int warmup = (int)Math.Min(WarmupSteps, plannedSteps / 10);
        var schedule = new WarmupCosineSchedule(LearningRate, warmup, totalSteps);
        using var weights = new TrainingWeights(module, Settings.Precision);
        using var optimizer = optim.AdamW(weights.Parameters, LearningRate, weight_decay: WeightDecay);
        using var generator = new Generator((ulong)Settings.Seed, CPU);

        var history = new TrainingHistory();
        long step = 0;
        var start = new LoopPosition { Epoch = 1 };
        Tensor? resumedOrder = null;
        if (Checkpoints is { Resume: true } settings && File.Exists(settings.Path))
        {
            start = Restore(settings.Path, weights, optimizer, average, generator, extraState, out resumedOrder);
            history = new TrainingHistory(start.History);
            (step, totalSteps) = (start.Step, start.TotalSteps);
            schedule = new WarmupCosineSchedule(LearningRate, warmup, totalSteps);
            if (start.Complete)
            {
                Logger.LogInformation("{Model}: training already finished in checkpoint '{Path}'", Model, settings.Path);
                module.eval();
                return history;
            }
            Logger.LogInformation("{Model}: resuming from checkpoint '{Path}' at epoch {Epoch}, step {Step}", Model, settings.Path, start.Epoch, step);
        }
        string? lastCheckpoint = Checkpoints is { } c && File.Exists(c.Path) ? c.Path : null;
        var sinceCheckpoint = Stopwatch.StartNew();
        var budgetClock = Stopwatch.StartNew();
        bool OutOfTime() => TimeBudget is { } budget && budgetClock.Elapsed >= budget;

        void Save(int epoch, long batch, double lossSum, double seconds, Tensor? order, bool complete)
        {
            if (Checkpoints is not { } where) return;
            var position = new LoopPosition
            {
                Run = Identity, Epoch = epoch, Batch = batch, Step = step, TotalSteps = totalSteps, LossSum = lossSum, EpochSeconds = seconds,
                AverageUpdates = average?.Updates ?? 0, Complete = complete, History = [.. history.Epochs],
            };
            var blobs = new Dictionary<string, Action<BinaryWriter>>
            {
                ["weights"] = w => IO.WeightArchive.Write(w, weights.State()),
                ["optimizer"] = w => ((TorchSharp.Modules.OptimizerHelper)optimizer).save_state_dict(w),
                ["generator"] = w => { using var state = generator.get_state(); TrainingCheckpoint.WriteTensor(w, state); },
                ["globalGenerator"] = w => { using var state = torch.random.get_rng_state(); TrainingCheckpoint.WriteTensor(w, state); },
            };
            if (average is not null) blobs["average"] = w => IO.WeightArchive.Write(w, average.Targets);
            if (order is not null) blobs["order"] = w => TrainingCheckpoint.WriteTensor(w, order);
            foreach (var (name, part) in extraState ?? new Dictionary<string, CheckpointPart>()) blobs[name] = part.Write;
            TrainingCheckpoint.Write(where.Path, position, blobs);
            lastCheckpoint = where.Path;
            sinceCheckpoint.Restart();
        }

        for (int epoch = start.Epoch; epoch <= Epochs && step < totalSteps && !OutOfTime(); epoch++)
        {
            // A checkpoint written inside an epoch (even before its first step) carries the epoch's order; the generator
            // in it has already drawn that order.
            bool resumed = epoch == start.Epoch && resumedOrder is not null;
            module.train();
            weights.BeginEpoch();
            var clock = Stopwatch.StartNew();
            double previousSeconds = resumed ? start.EpochSeconds : 0;
            double lossSum = resumed ? start.LossSum : 0;
            using var order = resumed ? resumedOrder! : batches.DrawEpoch(generator);
            long b = resumed ? start.Batch : 0;
            // The epoch's reader closes before validation reads: a streamed source never has two passes open at once.
            using (var epochBatches = batches.Open(order, BatchSize, b))
                for (; b < stepsPerEpoch && step < totalSteps && !OutOfTime(); b++)
                {
                    if (cancellationToken.IsCancellationRequested)
                    {
                        // The state after the last finished step: a resumed run continues from exactly here.
                        weights.EndEpoch();
                        Save(epoch, b, lossSum, previousSeconds + clock.Elapsed.TotalSeconds, order, complete: false);
                        cancellationToken.ThrowIfCancellationRequested();
                    }
                    using (NewDisposeScope())
                    {
                        var (values, labels) = epochBatches.Next();
                        WarmupCosineSchedule.Apply(optimizer, schedule.At(step));
                        CurrentStep = step;
                        var loss = lossOf(values, labels, generator);
                        double value = loss.item<float>();
                        if (!double.IsFinite(value)) throw new TrainingDivergedException(Model, epoch, step, value, lastCheckpoint);
                        optimizer.zero_grad();
                        weights.ZeroGradients();
                        loss.backward();
                        weights.GradientsToMasters();
                        optimizer.step();
                        weights.MastersToModule();
                        // Updates that are not gradient steps, decided by the loss from this batch (so a resumed run repeats them).
                        afterStep?.Invoke(weights);
                        lossSum += value;
                    }
                    average?.Update(weights.Current());
                    step++;
                    if (TimeBudget is { } budget && step == start.Step + BudgetProbeSteps)
                    {
                        // Fit the plan to the time left at the speed seen so far; the warm-up (already under way) stays.
                        double rate = (step - start.Step) / budgetClock.Elapsed.TotalSeconds;
                        long fits = step + (long)Math.Max(0, (budget - budgetClock.Elapsed).TotalSeconds * rate);
                        if (fits < totalSteps)
                        {
                            totalSteps = Math.Max(fits, step);
                            schedule = new WarmupCosineSchedule(LearningRate, warmup, totalSteps);
                            Logger.LogInformation("{Model}: {Steps} steps fit the time budget of {Budget} at {Rate:F1} steps/s", Model, totalSteps,
                                budget, rate);
                        }
                    }
                    Settings.Progress?.Report(new TrainingProgress(Model, step, totalSteps, epoch, lossSum / (b + 1)));
                    if (Checkpoints is { } every && sinceCheckpoint.Elapsed >= every.Interval && b + 1 < stepsPerEpoch)
                    {
                        // Saved in float32 (buffers included); going back to the training format rounds the masters as each step does.
                        weights.EndEpoch();
                        Save(epoch, b + 1, lossSum, previousSeconds + clock.Elapsed.TotalSeconds, order, complete: false);
                        weights.BeginEpoch();
                    }
                }
            weights.EndEpoch();
            if (b == 0) break;
            double seconds = previousSeconds + clock.Elapsed.TotalSeconds;
            module.eval();
            double validation = validationLoss?.Invoke() ?? double.NaN;
            long rowsSeen = Math.Min(Rows, b * BatchSize);
            var record = new EpochRecord(epoch, lossSum / b, validation, seconds, rowsSeen / seconds);
            history.Add(record);
            // A run without a validation split (the FID classifier's) says nothing about validation rather than "NaN".
            if (validationLoss is null)
                Logger.LogInformation("{Model} epoch {Epoch}/{Epochs}: loss {Loss:F5}, {Rate:F0} samples/s",
                    Model, epoch, Epochs, record.TrainLoss, record.SamplesPerSecond);
            else
                Logger.LogInformation("{Model} epoch {Epoch}/{Epochs}: loss {Loss:F5}, validation {Validation:F5}, {Rate:F0} samples/s",
                    Model, epoch, Epochs, record.TrainLoss, record.ValidationLoss, record.SamplesPerSecond);
            bool finished = epoch == Epochs || step >= totalSteps || OutOfTime();
            if (Checkpoints is not null && (finished || sinceCheckpoint.Elapsed >= Checkpoints.Interval))
                Save(epoch + 1, 0, 0, 0, null, complete: finished);
        }
        module.eval();
        if (step == 0 && TimeBudget is { } limit)
            throw new TimeoutException($"Training '{Model}' took no optimiser step within MaxTrainingTime ({limit}): the time ran out before the first "
                + $"step. Allow more time, or none (null).");
        return history;
    }

    /// <summary>"BatchSize" as "batch size".</summary>
    private static string Words(string name) => System.Text.RegularExpressions.Regex.Replace(name, "(?<=[a-z])([A-Z])", " $1").ToLowerInvariant();

    /// <summary>Loads a checkpoint into the run's state, after checking it belongs to this run.</summary>
    private LoopPosition Restore(string path, TrainingWeights weights, optim.Optimizer optimizer, ExponentialMovingAverage? average, Generator generator,
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
        using (var r = new BinaryReader(new MemoryStream(blobs[Blob("weights")]))) IO.WeightArchive.Read(r, weights.State(), $"{path}: weights");
        weights.AfterRestore();
        using (var r = new BinaryReader(new MemoryStream(blobs[Blob("optimizer")]))) ((TorchSharp.Modules.OptimizerHelper)optimizer).load_state_dict(r);
        if (average is not null)
        {
            using var r = new BinaryReader(new MemoryStream(blobs[Blob("average")]));
            IO.WeightArchive.Read(r, average.Targets, $"{path}: average");
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
