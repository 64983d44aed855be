using LatentDiffusion.Models;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace LatentDiffusion.Training;

/// <summary>Trains the FID feature classifier with cross-entropy on flat images and integer labels.</summary>
internal static class ClassifierTraining
{
    /// <summary>Trains a classifier of <paramref name="config"/> on <paramref name="rows"/> images with labels in 0..classes-1.</summary>
    public static (ClassifierModel Model, TrainingHistory History) Fit(ClassifierConfig config, float[] images, int[] labels, int rows, int epochs, TrainingRun run)
    {
        config.Validate("the training data");
        manual_seed(run.Seed);
        var network = new FeatureClassifier(config, run.Device);
        run.Logger.LogInformation("Training the FID classifier on {Rows} images of {Shape} for {Epochs} epochs", rows, string.Join("x", config.ImageShape), epochs);
        using var x = tensor(images, [rows, config.ImageSize], device: run.Device);
        using var y = tensor(labels.Select(l => (long)l).ToArray(), device: run.Device);
        var history = run.Loop("classifier", rows, epochs).Run(network, (batch, _) => functional.cross_entropy(network.forward(x[batch]), y[batch]),
            cancellationToken: run.CancellationToken);
        return (new ClassifierModel(network, run.Device), history);
    }
}
