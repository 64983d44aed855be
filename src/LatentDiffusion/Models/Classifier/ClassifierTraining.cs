using LatentDiffusion.Training;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace LatentDiffusion.Models.Classifier;

/// <summary>The settings of classifier training beyond <see cref="TrainingRun"/>.</summary>
internal sealed record ClassifierTrainingSettings
{
    public int Epochs { get; init; } = 5;
    /// <summary>How each image is varied at every step; null: not at all.</summary>
    public ClassifierAugmentation? Augmentation { get; init; }
    /// <summary>The loop's name in logs and checkpoints.</summary>
    public string Loop { get; init; } = "classifier";
    /// <summary>What the classifier is for, in logs.</summary>
    public string Purpose { get; init; } = "FID classifier";
}

/// <summary>Trains the FID feature classifier with cross-entropy on flat images and integer labels.</summary>
internal static class ClassifierTraining
{
    /// <summary>Trains a classifier of the validated <paramref name="config"/> on the labelled images of <paramref name="data"/>.</summary>
    public static (ClassifierModel Model, TrainingHistory History) Fit(ClassifierConfig config, TrainingData data, ClassifierTrainingSettings settings,
        TrainingRun run)
    {
        var (rows, epochs, augmentation) = (data.Rows, settings.Epochs, settings.Augmentation);
        if (!data.HasLabels) throw new ArgumentException("A classifier needs the images' labels.", nameof(data));
        manual_seed(run.Seed);
        var network = FeatureClassifier.Create(config, run.Device);
        run.Logger.LogInformation("Training the {Kind} {Purpose} on {Rows} images of {Shape} for {Epochs} epochs{Augmentation}", config.Kind,
            settings.Purpose, rows,
            string.Join("x", config.ImageShape), epochs, augmentation is null ? "" : " with augmentation");
        TrainingHistory history;
        using (var batches = data.Batches(rows, [config.ImageSize], run.Device))
            history = run.Loop(settings.Loop, rows, epochs).Run(new LoopWork
            {
                Module = network, Batches = batches, Loss = (x, y, generator) =>
                {
                    var input = augmentation is null ? x : augmentation.Apply(x, config.ImageShape, generator);
                    return functional.cross_entropy(network.forward(input), y!);
                },
            }, run.CancellationToken);
        var chunks = data.All(RecalibrationBatch).Select(c => tensor(c.Values, [c.Rows, config.ImageSize], device: run.Device));
        if (config.BatchNormRecalibrated && RecalibrateBatchNorm(network, chunks) is > 0 and var layers)
            run.Logger.LogInformation(
                "Batch-norm statistics of {Layers} layers recalibrated on the {Rows} training images as they are (no augmentation)", layers, rows);
        return (new ClassifierModel(network, run.Device), history);
    }

    /// <summary>
    /// Sets every batch-norm layer's running mean and variance to their averages over <paramref name="images"/> (no
    /// augmentation, no dropout): after a short run with augmentation, the moving averages lag the trained weights and
    /// describe augmented digits, while features are computed in evaluation mode on plain ones. Returns the number of
    /// layers recalibrated.
    /// </summary>
    internal static int RecalibrateBatchNorm(FeatureClassifier network, Tensor images) => RecalibrateBatchNorm(network,
        Enumerable.Range(0, (int)((images.shape[0] + RecalibrationBatch - 1) / RecalibrationBatch))
            .Select(b => images.narrow(0, (long)b * RecalibrationBatch, Math.Min(RecalibrationBatch, images.shape[0] - (long)b * RecalibrationBatch))));

    /// <summary>Rows per batch of the batch-norm recalibration.</summary>
    private const int RecalibrationBatch = 1000;

    /// <summary>As above, over <paramref name="batches"/> (each disposed once used).</summary>
    internal static int RecalibrateBatchNorm(FeatureClassifier network, IEnumerable<Tensor> batches)
    {
        var layers = network.modules().OfType<TorchSharp.Modules.BatchNorm>().ToArray();
        if (layers.Length == 0) return 0;
        using var _ = no_grad();
        network.eval();
        foreach (var layer in layers)
        {
            layer.reset_running_stats();
            layer.train();
        }
        long k = 0;
        foreach (var batch in batches)
        {
            using var input = batch;
            using var scope = NewDisposeScope();
            // Momentum 1/k makes each running statistic the plain average of the k batches' statistics.
            k++;
            foreach (var layer in layers) layer.momentum = 1.0 / k;
            network.FeaturesAndLogits(input);
        }
        foreach (var layer in layers) layer.momentum = 0.1;
        network.eval();
        return layers.Length;
    }
}
