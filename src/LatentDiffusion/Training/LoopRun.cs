using System.Diagnostics;
using LatentDiffusion.IO;
using Microsoft.Extensions.Logging;
using TorchSharp;
using static TorchSharp.torch;

namespace LatentDiffusion.Training;

/// <summary>
/// One run of a <see cref="MinibatchLoop"/>: the weights in training (with float32 masters under mixed precision), the
/// optimiser, the run's generator, the plan (steps and the learning-rate schedule over them, shortened to fit a time
/// budget), the history, and the checkpoint written from all of it. Its parts: start or resume, an epoch, a step, the
/// budget, a checkpoint, the end of an epoch.
/// </summary>
internal sealed class LoopRun : IDisposable
{
    private readonly MinibatchLoop loop;
    private readonly LoopWork work;
    private readonly CancellationToken cancellationToken;
    private readonly long stepsPerEpoch;
    private readonly int warmup;
    private readonly TrainingWeights weights;
    private readonly optim.Optimizer optimizer;
    private readonly Generator generator;
    private readonly Stopwatch sinceCheckpoint = new(), budgetClock = new();
    private WarmupCosineSchedule schedule;
    private TrainingHistory history = new();
    private LoopPosition start = new() { Epoch = 1 };
    private Tensor? resumedOrder;
    private string? lastCheckpoint;
    private long step, totalSteps;

    public LoopRun(MinibatchLoop loop, LoopWork work, CancellationToken cancellationToken)
    {
        (this.loop, this.work, this.cancellationToken) = (loop, work, cancellationToken);
        stepsPerEpoch = (loop.Rows + loop.BatchSize - 1) / loop.BatchSize;
        totalSteps = stepsPerEpoch * loop.Epochs;
        warmup = (int)Math.Min(loop.WarmupSteps, totalSteps / 10);
        schedule = new WarmupCosineSchedule(loop.LearningRate, warmup, totalSteps);
        weights = new TrainingWeights(work.Module, loop.Settings.Precision);
        optimizer = optim.AdamW(weights.Parameters, loop.LearningRate, weight_decay: loop.WeightDecay);
        generator = new Generator((ulong)loop.Settings.Seed, CPU);
    }

    private bool OutOfTime() => loop.TimeBudget is { } budget && budgetClock.Elapsed >= budget;

    /// <summary>Trains from the start or from the checkpoint to the end of the plan, and returns the history.</summary>
    public TrainingHistory Execute()
    {
        if (Resume()) return history;
        lastCheckpoint = loop.Checkpoints is { } c && File.Exists(c.Path) ? c.Path : null;
        sinceCheckpoint.Start();
        budgetClock.Start();
        for (int epoch = start.Epoch; epoch <= loop.Epochs && step < totalSteps && !OutOfTime(); epoch++)
            if (!Epoch(epoch)) break;
        work.Module.eval();
        if (step == 0 && loop.TimeBudget is { } limit)
            throw new TimeoutException($"Training '{loop.Model}' took no optimiser step within MaxTrainingTime ({limit}): the time ran out before the "
                + "first step. Allow more time, or none (null).");
        return history;
    }

    /// <summary>Continues from the checkpoint when asked to and there is one; true when it says training already finished.</summary>
    private bool Resume()
    {
        if (loop.Checkpoints is not { Resume: true } settings || !File.Exists(settings.Path)) return false;
        start = loop.Restore(settings.Path, weights, optimizer, work.Average, generator, work.ExtraState, out resumedOrder);
        history = new TrainingHistory(start.History);
        (step, totalSteps) = (start.Step, start.TotalSteps);
        schedule = new WarmupCosineSchedule(loop.LearningRate, warmup, totalSteps);
        if (start.Complete)
        {
            loop.Logger.LogInformation("{Model}: training already finished in checkpoint '{Path}'", loop.Model, settings.Path);
            work.Module.eval();
            return true;
        }
        loop.Logger.LogInformation("{Model}: resuming from checkpoint '{Path}' at epoch {Epoch}, step {Step}", loop.Model, settings.Path, start.Epoch, step);
        return false;
    }

    /// <summary>One epoch (or the rest of the resumed one); false when it took no step, which ends the run.</summary>
    private bool Epoch(int epoch)
    {
        // A checkpoint written inside an epoch (even before its first step) carries the epoch's order; the generator in
        // it has already drawn that order.
        bool resumed = epoch == start.Epoch && resumedOrder is not null;
        work.Module.train();
        weights.BeginEpoch();
        var clock = Stopwatch.StartNew();
        double previousSeconds = resumed ? start.EpochSeconds : 0;
        double lossSum = resumed ? start.LossSum : 0;
        using var order = resumed ? resumedOrder! : work.Batches.DrawEpoch(generator);
        long b = resumed ? start.Batch : 0;
        // The epoch's reader closes before validation reads: a streamed source never has two passes open at once.
        using (var epochBatches = work.Batches.Open(order, loop.BatchSize, b))
            for (; b < stepsPerEpoch && step < totalSteps && !OutOfTime(); b++)
            {
                if (cancellationToken.IsCancellationRequested)
                {
                    // The state after the last finished step: a resumed run continues from exactly here.
                    weights.EndEpoch();
                    Save(epoch, b, lossSum, previousSeconds + clock.Elapsed.TotalSeconds, order, complete: false);
                    cancellationToken.ThrowIfCancellationRequested();
                }
                lossSum += Step(epochBatches, epoch);
                loop.Settings.Progress?.Report(new TrainingProgress(loop.Model, step, totalSteps, epoch, lossSum / (b + 1)));
                if (loop.Checkpoints is { } every && sinceCheckpoint.Elapsed >= every.Interval && b + 1 < stepsPerEpoch)
                {
                    // Saved in float32 (buffers included); going back to the training format rounds the masters as each step does.
                    weights.EndEpoch();
                    Save(epoch, b + 1, lossSum, previousSeconds + clock.Elapsed.TotalSeconds, order, complete: false);
                    weights.BeginEpoch();
                }
            }
        weights.EndEpoch();
        if (b == 0) return false;
        EndOfEpoch(epoch, b, lossSum, previousSeconds + clock.Elapsed.TotalSeconds);
        return true;
    }

    /// <summary>One optimiser step on the next minibatch; returns its loss.</summary>
    private double Step(IEpochBatches epochBatches, int epoch)
    {
        double value;
        using (NewDisposeScope())
        {
            var (values, labels) = epochBatches.Next();
            WarmupCosineSchedule.Apply(optimizer, schedule.At(step));
            loop.CurrentStep = step;
            var loss = work.Loss(values, labels, generator);
            value = loss.item<float>();
            if (!double.IsFinite(value)) throw new TrainingDivergedException(loop.Model, epoch, step, value, lastCheckpoint);
            optimizer.zero_grad();
            weights.ZeroGradients();
            loss.backward();
            weights.GradientsToMasters();
            optimizer.step();
            weights.MastersToModule();
            // Updates that are not gradient steps, decided by the loss from this batch (so a resumed run repeats them).
            work.AfterStep?.Invoke(weights);
        }
        work.Average?.Update(weights.Current());
        step++;
        if (loop.TimeBudget is { } budget && step == start.Step + MinibatchLoop.BudgetProbeSteps) FitPlanToBudget(budget);
        return value;
    }

    /// <summary>Shortens the plan to the steps that fit the time left at the speed seen so far; the warm-up (already under way) stays.</summary>
    private void FitPlanToBudget(TimeSpan budget)
    {
        double rate = (step - start.Step) / budgetClock.Elapsed.TotalSeconds;
        long fits = step + (long)Math.Max(0, (budget - budgetClock.Elapsed).TotalSeconds * rate);
        if (fits >= totalSteps) return;
        totalSteps = Math.Max(fits, step);
        schedule = new WarmupCosineSchedule(loop.LearningRate, warmup, totalSteps);
        loop.Logger.LogInformation("{Model}: {Steps} steps fit the time budget of {Budget} at {Rate:F1} steps/s", loop.Model, totalSteps, budget, rate);
    }

    /// <summary>Validates, records and logs a finished epoch, and writes the checkpoint that is due.</summary>
    private void EndOfEpoch(int epoch, long batches, double lossSum, double seconds)
    {
        work.Module.eval();
        double validation = work.ValidationLoss?.Invoke() ?? double.NaN;
        long rowsSeen = Math.Min(loop.Rows, batches * loop.BatchSize);
        var record = new EpochRecord(epoch, lossSum / batches, validation, seconds, rowsSeen / seconds);
        history.Add(record);
        // A run without a validation split (the FID classifier's) says nothing about validation rather than "NaN".
        if (work.ValidationLoss is null)
            loop.Logger.LogInformation("{Model} epoch {Epoch}/{Epochs}: loss {Loss:F5}, {Rate:F0} samples/s",
                loop.Model, epoch, loop.Epochs, record.TrainLoss, record.SamplesPerSecond);
        else
            loop.Logger.LogInformation("{Model} epoch {Epoch}/{Epochs}: loss {Loss:F5}, validation {Validation:F5}, {Rate:F0} samples/s",
                loop.Model, epoch, loop.Epochs, record.TrainLoss, record.ValidationLoss, record.SamplesPerSecond);
        bool finished = epoch == loop.Epochs || step >= totalSteps || OutOfTime();
        if (loop.Checkpoints is not null && (finished || sinceCheckpoint.Elapsed >= loop.Checkpoints.Interval))
            Save(epoch + 1, 0, 0, 0, null, complete: finished);
    }

    /// <summary>Writes the checkpoint: the position and every tensor the run's future depends on.</summary>
    private void Save(int epoch, long batch, double lossSum, double seconds, Tensor? order, bool complete)
    {
        if (loop.Checkpoints is not { } where) return;
        var position = new LoopPosition
        {
            Run = loop.Identity, Epoch = epoch, Batch = batch, Step = step, TotalSteps = totalSteps, LossSum = lossSum, EpochSeconds = seconds,
            AverageUpdates = work.Average?.Updates ?? 0, Complete = complete, History = [.. history.Epochs],
        };
        var blobs = new Dictionary<string, Action<BinaryWriter>>
        {
            ["weights"] = w => ModuleWeights.Write(w, weights.State()),
            ["optimizer"] = w => ((TorchSharp.Modules.OptimizerHelper)optimizer).save_state_dict(w),
            ["generator"] = w => { using var state = generator.get_state(); TrainingCheckpoint.WriteTensor(w, state); },
            ["globalGenerator"] = w => { using var state = torch.random.get_rng_state(); TrainingCheckpoint.WriteTensor(w, state); },
        };
        if (work.Average is { } average) blobs["average"] = w => ModuleWeights.Write(w, average.Targets);
        if (order is not null) blobs["order"] = w => TrainingCheckpoint.WriteTensor(w, order);
        foreach (var (name, part) in work.ExtraState ?? new Dictionary<string, CheckpointPart>()) blobs[name] = part.Write;
        TrainingCheckpoint.Write(where.Path, position, blobs);
        lastCheckpoint = where.Path;
        sinceCheckpoint.Restart();
    }

    public void Dispose()
    {
        generator.Dispose();
        optimizer.Dispose();
        weights.Dispose();
    }
}
