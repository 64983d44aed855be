using LatentDiffusion.Models.Denoisers;
using LatentDiffusion.Training;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace LatentDiffusion.Diffusion;

/// <summary>The settings of diffusion training beyond <see cref="TrainingRun"/>.</summary>
internal sealed record DiffusionTrainingSettings
{
    public int Epochs { get; init; } = 20;
    public double LabelDropout { get; init; } = 0.1;
    public double EmaDecay { get; init; } = 0.999;
    public DiffusionLoss Loss { get; init; } = new(DiffusionLossKind.MeanSquaredError);
    /// <summary>
    /// Whether to standardise the data per index of its first dimension before training (stored in the model's config
    /// and undone on samples).
    /// </summary>
    public bool Standardise { get; init; }
    public double ValidationFraction { get; init; } = 0.02;
    public int AutoguidanceEpochs { get; init; } = 6;
}

/// <summary>
/// Trains a diffusion model: random timestep, q(x_t | x_0) noise, the objective's loss; label dropout swaps a fraction
/// of labels for the null class so one network also learns the unconditional score; an EMA copy of the weights (of the
/// float32 weights, under mixed precision too) is what sampling uses. With an autoguidance config, a second, weaker
/// denoiser is trained the same way afterwards.
/// </summary>
internal static class DiffusionTraining
{
    /// <summary>
    /// Trains the networks of the validated <paramref name="config"/> on <paramref name="samples"/> (each of the
    /// denoiser's data shape) and their optional labels. The config gains the data's standardisation and range. The last
    /// <see cref="DiffusionTrainingSettings.ValidationFraction"/> of the rows give the validation loss.
    /// </summary>
    public static (DiffusionModel Model, TrainingHistory History) Fit(DiffusionModelConfig config, TrainingData samples, DiffusionTrainingSettings settings,
        TrainingRun run)
    {
        var (fitted, standardise) = FitDataTransform(config, samples, settings.Standardise, run.Logger);
        DiffusionModel.Validate(fitted, "the training data");
        var device = run.Device;
        // Initialisation draws from the global generator: the denoiser from the run's seed, the autoguidance denoiser
        // from the next one, so that the denoiser does not depend on whether an autoguidance denoiser follows.
        manual_seed(run.Seed);
        var network = DenoiserNetworks.Create(fitted.Denoiser, device);
        var ema = DenoiserNetworks.Create(fitted.Denoiser, device);
        Denoiser? weakNetwork = null, weak = null;
        if (fitted.Autoguidance is { } weakConfig)
        {
            manual_seed(run.Seed + 1);
            weakNetwork = DenoiserNetworks.Create(weakConfig, device);
            weak = DenoiserNetworks.Create(weakConfig, device);
        }
        var (trainRows, validationRows) = TrainingRun.Split(samples.Rows, settings.ValidationFraction);
        var schedule = new NoiseSchedule(fitted.Schedule, fitted.Timesteps);
        run.Logger.LogInformation("Training the {Kind} denoiser (width {Width}, {Parameters} parameters, {Schedule} schedule, {Objective}) "
            + "on {Rows} samples of [{Shape}] for {Epochs} epochs; {Held} more held out for the validation loss (ValidationFraction {Fraction})",
            fitted.Denoiser.Kind, fitted.Denoiser.Width, network.parameters().Sum(p => p.numel()), fitted.Schedule, fitted.Objective, trainRows,
            string.Join("x", fitted.Denoiser.DataShape), settings.Epochs, validationRows, settings.ValidationFraction);
        TrainingHistory history, weakHistory = new();
        var data = new DiffusionData(samples, fitted.Denoiser.DataShape, trainRows, validationRows, standardise, device);
        using (var batches = data.TrainingBatches())
        {
            history = Train(network, ema, schedule, fitted.Objective, batches, data, settings, run.Loop("diffusion", trainRows, settings.Epochs),
                run.CancellationToken);
            if (weakNetwork is not null && weak is not null)
            {
                run.Logger.LogInformation("Training the autoguidance denoiser (width {Width}, {Parameters} parameters) for {Epochs} epochs",
                    fitted.Autoguidance!.Width, weakNetwork.parameters().Sum(p => p.numel()), settings.AutoguidanceEpochs);
                weakHistory = Train(weakNetwork, weak, schedule, fitted.Objective, batches, data, settings,
                    run.Loop("autoguidance", trainRows, settings.AutoguidanceEpochs, budgeted: false), run.CancellationToken);
            }
        }
        network.Dispose();
        weakNetwork?.Dispose();
        return (new DiffusionModel(fitted, ema, weak, device) { History = history, AutoguidanceHistory = weakHistory }, history);
    }

    /// <summary>
    /// The config with the data's standardisation (when asked for) and range, measured on <paramref name="samples"/>,
    /// and the function that standardises a row (null without standardisation).
    /// </summary>
    internal static (DiffusionModelConfig Config, Action<Span<float>>? Standardise) FitDataTransform(DiffusionModelConfig config, TrainingData samples,
        bool standardise, ILogger logger)
    {
        var shape = config.Denoiser.DataShape;
        Action<Span<float>>? transform = null;
        (float[] Shift, float[] Scale)? standardisation = null;
        if (standardise)
        {
            var (shift, scale) = Standardisation(samples, shape);
            standardisation = (shift, scale);
            config = config with { DataShift = shift, DataScale = scale };
            transform = row => Standardise(row, shape, shift, scale);
            logger.LogInformation("Data standardisation: shift [{Shift}], scale [{Scale}]",
                string.Join(", ", shift.Take(8).Select(v => v.ToString("G4"))), string.Join(", ", scale.Take(8).Select(v => v.ToString("G4"))));
        }
        var (low, high) = Range(samples, shape, standardisation);
        return (config with { DataMin = low, DataMax = high }, transform);
    }

    /// <summary>Mean and standard deviation per index of the first data dimension over all rows (a constant index keeps scale 1).</summary>
    private static (float[] Shift, float[] Scale) Standardisation(TrainingData data, int[] shape)
    {
        var moments = new ChannelMoments(shape[0], shape.Skip(1).Aggregate(1, (a, b) => a * b));
        foreach (var chunk in data.All(4096)) moments.Add(chunk.Values);
        return (moments.Mean, moments.Variance.Select(v => Math.Sqrt(v) is var std && std > 1e-6 ? (float)std : 1f).ToArray());
    }

    /// <summary>
    /// Smallest and largest value per index of the first data dimension, after the <paramref name="standardisation"/>
    /// (monotone: positive scales, so the extremes of the standardised values are the standardised extremes, to the bit).
    /// </summary>
    private static (float[] Min, float[] Max) Range(TrainingData data, int[] shape, (float[] Shift, float[] Scale)? standardisation)
    {
        int channels = shape[0], inner = shape.Skip(1).Aggregate(1, (a, b) => a * b);
        var low = Enumerable.Repeat(float.MaxValue, channels).ToArray();
        var high = Enumerable.Repeat(float.MinValue, channels).ToArray();
        foreach (var chunk in data.All(4096))
        {
            var values = chunk.Values;
            for (int i = 0; i < values.Length; i++)
            {
                int c = i / inner % channels;
                low[c] = Math.Min(low[c], values[i]);
                high[c] = Math.Max(high[c], values[i]);
            }
        }
        if (standardisation is var (shift, scale))
            for (int c = 0; c < channels; c++) (low[c], high[c]) = ((low[c] - shift[c]) / scale[c], (high[c] - shift[c]) / scale[c]);
        return (low, high);
    }

    /// <summary>Standardises one row in place: (value - shift) / scale per index of the first dimension.</summary>
    private static void Standardise(Span<float> row, int[] shape, float[] shift, float[] scale)
    {
        int channels = shape[0], inner = row.Length / channels;
        for (int i = 0; i < row.Length; i++)
        {
            int c = i / inner;
            row[i] = (row[i] - shift[c]) / scale[c];
        }
    }

    private static TrainingHistory Train(Denoiser model, Denoiser ema, NoiseSchedule schedule, DiffusionObjective objective, IBatchSource batches,
        DiffusionData data, DiffusionTrainingSettings settings, MinibatchLoop loop, CancellationToken cancellationToken)
    {
        var average = new ExponentialMovingAverage(model, ema, settings.EmaDecay);
        var device = loop.Settings.Device;

        Tensor Loss(Denoiser net, Tensor x0, Tensor? y, Generator generator)
        {
            long n = x0.shape[0];
            // Random draws come from the run's CPU generator and move to the data's device: the same run on any device.
            var t = randint(0, schedule.Timesteps, [n], generator: generator, device: CPU).to(device);
            var noise = randn(x0.shape, generator: generator, device: CPU).to(device);
            var xt = schedule.AddNoise(x0, noise, t);
            Tensor classes;
            if (y is null || net.Classes == 0) classes = full([n], net.NullClass, dtype: int64, device: device);
            else
            {
                var drop = (rand([n], generator: generator, device: CPU) < settings.LabelDropout).to(device);
                classes = where(drop, full([n], net.NullClass, dtype: int64, device: device), y);
            }
            var prediction = net.forward(xt, t, classes);
            return settings.Loss.Compute(objective, schedule, prediction, schedule.Target(objective, x0, noise, t), t);
        }

        return loop.Run(new LoopWork
        {
            Module = model, Batches = batches, Loss = (x, y, generator) => Loss(model, x, y, generator), Average = average,
            ValidationLoss = () => data.ValidationLoss((x, y, generator) => Loss(ema, x, y, generator)),
        }, cancellationToken);
    }
}
