using System.Diagnostics;
using Microsoft.Extensions.Logging;
using TorchSharp;
using static TorchSharp.torch;

namespace LatentDiffusion.Training;

/// <summary>What every training loop here shares: shuffled minibatches, an optimiser step, a learning-rate schedule.</summary>
internal sealed class MinibatchLoop
{
    public required string Model { get; init; }
    public required long Rows { get; init; }
    public required int BatchSize { get; init; }
    public required int Epochs { get; init; }
    public required double LearningRate { get; init; }
    public double WeightDecay { get; init; } = 1e-4;
    public int WarmupSteps { get; init; } = 200;
    public required int Seed { get; init; }
    public TrainingPrecision Precision { get; init; }
    public ILogger Logger { get; init; } = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
    public IProgress<TrainingProgress>? Progress { get; init; }

    /// <summary>
    /// Wall-clock limit: after <see cref="BudgetProbeSteps"/> steps the loop measures its speed and shortens the plan
    /// (and the learning-rate schedule with it) to the steps that fit; it also stops when the time is up. Null: the
    /// epochs decide. A budgeted run is not reproducible: how far it gets depends on the machine's speed.
    /// </summary>
    public TimeSpan? TimeBudget { get; init; }

    /// <summary>Steps timed before a budgeted run fits its plan to the budget.</summary>
    public const int BudgetProbeSteps = 30;

    /// <summary>
    /// Runs the loop. <paramref name="lossOf"/> maps a batch of row indices (on the CPU, as the shuffle and the
    /// generator it also receives are) to a scalar float32 loss (with a graph);
    /// <paramref name="afterStep"/> receives the float32 weights after each optimiser step. The module must take and
    /// return float32 whatever its own number format (see <see cref="TrainingPrecision"/>); between epochs, when
    /// <paramref name="validationLoss"/> runs, it is float32.
    /// </summary>
    public TrainingHistory Run(nn.Module module, Func<Tensor, Generator, Tensor> lossOf, Func<double>? validationLoss = null,
        Action<IEnumerable<(string Name, Tensor Value)>>? afterStep = null, CancellationToken cancellationToken = default)
    {
        var history = new TrainingHistory();
        long stepsPerEpoch = (Rows + BatchSize - 1) / BatchSize;
        long totalSteps = stepsPerEpoch * Epochs;
        var schedule = new WarmupCosineSchedule(LearningRate, Math.Min(WarmupSteps, totalSteps / 10), totalSteps);
        using var weights = new TrainingWeights(module, Precision);
        using var optimizer = optim.AdamW(weights.Parameters, LearningRate, weight_decay: WeightDecay);
        using var generator = new Generator((ulong)Seed, CPU);
        long step = 0;
        var budgetClock = Stopwatch.StartNew();
        bool OutOfTime() => TimeBudget is { } budget && budgetClock.Elapsed >= budget;
        for (int epoch = 1; epoch <= Epochs && step < totalSteps && !OutOfTime(); epoch++)
        {
            module.train();
            weights.BeginEpoch();
            var clock = Stopwatch.StartNew();
            double lossSum = 0;
            using var order = randperm(Rows, generator: generator, device: CPU);
            long b = 0;
            for (; b < stepsPerEpoch && step < totalSteps && !OutOfTime(); b++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                using (NewDisposeScope())
                {
                    var rows = order.narrow(0, b * BatchSize, Math.Min(BatchSize, Rows - b * BatchSize));
                    WarmupCosineSchedule.Apply(optimizer, schedule.At(step));
                    var loss = lossOf(rows, generator);
                    optimizer.zero_grad();
                    weights.ZeroGradients();
                    loss.backward();
                    weights.GradientsToMasters();
                    optimizer.step();
                    weights.MastersToModule();
                    double value = loss.item<float>();
                    if (!double.IsFinite(value))
                        throw new InvalidOperationException($"{Model} training diverged at epoch {epoch}, step {step}: loss is {value}. Lower the learning rate.");
                    lossSum += value;
                }
                afterStep?.Invoke(weights.Current());
                step++;
                if (TimeBudget is { } budget && step == BudgetProbeSteps)
                {
                    // Fit the plan to the time left at the speed seen so far; the warm-up (already under way) stays.
                    double rate = step / budgetClock.Elapsed.TotalSeconds;
                    long fits = step + (long)Math.Max(0, (budget - budgetClock.Elapsed).TotalSeconds * rate);
                    if (fits < totalSteps)
                    {
                        totalSteps = Math.Max(fits, step);
                        schedule = new WarmupCosineSchedule(LearningRate, Math.Min(WarmupSteps, stepsPerEpoch * Epochs / 10), totalSteps);
                        Logger.LogInformation("{Model}: {Steps} steps fit the time budget of {Budget} at {Rate:F1} steps/s", Model, totalSteps, budget, rate);
                    }
                }
                Progress?.Report(new TrainingProgress(Model, step, totalSteps, epoch, lossSum / (b + 1)));
            }
            weights.EndEpoch();
            if (b == 0) break;
            double seconds = clock.Elapsed.TotalSeconds;
            module.eval();
            double validation = validationLoss?.Invoke() ?? double.NaN;
            long rowsSeen = Math.Min(Rows, b * BatchSize);
            var record = new EpochRecord(epoch, lossSum / b, validation, seconds, rowsSeen / seconds);
            history.Add(record);
            Logger.LogInformation("{Model} epoch {Epoch}/{Epochs}: loss {Loss:F5}, validation {Validation:F5}, {Rate:F0} samples/s",
                Model, epoch, Epochs, record.TrainLoss, record.ValidationLoss, record.SamplesPerSecond);
        }
        module.eval();
        return history;
    }
}
