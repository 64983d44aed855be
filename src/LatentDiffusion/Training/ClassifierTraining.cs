using LatentDiffusion.Models;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace LatentDiffusion.Training;

/// <summary>How training images are varied for the FID classifier: a fresh small affine change per image and step.</summary>
/// <param name="MaxShiftPixels">Largest shift, in pixels, along each axis.</param>
/// <param name="MaxRotationDegrees">Largest rotation either way.</param>
/// <param name="MaxScaleChange">Largest relative change of size (0.1 = 90%..110%).</param>
internal sealed record ClassifierAugmentation(double MaxShiftPixels = 2, double MaxRotationDegrees = 10, double MaxScaleChange = 0.1)
{
    /// <summary>
    /// <paramref name="images"/> [rows, channels*height*width] moved, turned and scaled per image (bilinear, zeros
    /// outside), with draws from <paramref name="generator"/> on the CPU so that every device gets the same images.
    /// </summary>
    public Tensor Apply(Tensor images, int[] shape, Generator generator)
    {
        long n = images.shape[0];
        Tensor Uniform(double max) => (rand([n], generator: generator, device: CPU) * 2 - 1) * max;
        var angle = Uniform(MaxRotationDegrees * Math.PI / 180);
        var scale = 1 + Uniform(MaxScaleChange);
        // affine_grid works in [-1, 1] coordinates: a shift of s pixels on a side of w pixels is 2 s / w.
        var shiftX = Uniform(2 * MaxShiftPixels / shape[2]);
        var shiftY = Uniform(2 * MaxShiftPixels / shape[1]);
        var (cos, sin) = (angle.cos() / scale, angle.sin() / scale);
        var theta = stack([cos, -sin, shiftX, sin, cos, shiftY], 1).view(n, 2, 3).to(images.device);
        var batch = images.view(n, shape[0], shape[1], shape[2]);
        var grid = functional.affine_grid(theta, [n, shape[0], shape[1], shape[2]], align_corners: false);
        return functional.grid_sample(batch, grid, align_corners: false).view(n, -1);
    }
}

/// <summary>Trains the FID feature classifier with cross-entropy on flat images and integer labels.</summary>
internal static class ClassifierTraining
{
    /// <summary>
    /// Trains a classifier of <paramref name="config"/> on <paramref name="rows"/> images with labels in 0..classes-1,
    /// varying each image by <paramref name="augmentation"/> at every step when given.
    /// </summary>
    public static (ClassifierModel Model, TrainingHistory History) Fit(ClassifierConfig config, float[] images, int[] labels, int rows, int epochs, TrainingRun run,
        ClassifierAugmentation? augmentation = null, string loop = "classifier", string purpose = "FID classifier")
    {
        config.Validate("the training data");
        manual_seed(run.Seed);
        var network = FeatureClassifier.Create(config, run.Device);
        run.Logger.LogInformation("Training the {Kind} {Purpose} on {Rows} images of {Shape} for {Epochs} epochs{Augmentation}", config.Kind, purpose, rows,
            string.Join("x", config.ImageShape), epochs, augmentation is null ? "" : " with augmentation");
        using var x = tensor(images, [rows, config.ImageSize], device: run.Device);
        using var y = tensor(labels.Select(l => (long)l).ToArray(), device: run.Device);
        var history = run.Loop(loop, rows, epochs).Run(network, (batch, generator) =>
        {
            var input = augmentation is null ? x[batch] : augmentation.Apply(x[batch], config.ImageShape, generator);
            return functional.cross_entropy(network.forward(input), y[batch]);
        }, cancellationToken: run.CancellationToken);
        if (config.BatchNormRecalibrated && RecalibrateBatchNorm(network, x) is > 0 and var layers)
            run.Logger.LogInformation("Batch-norm statistics of {Layers} layers recalibrated on the {Rows} training images as they are (no augmentation)", layers, rows);
        return (new ClassifierModel(network, run.Device), history);
    }

    /// <summary>
    /// Sets every batch-norm layer's running mean and variance to their averages over <paramref name="images"/> (no
    /// augmentation, no dropout): after a short run with augmentation, the moving averages lag the trained weights and
    /// describe augmented digits, while features are computed in evaluation mode on plain ones. Returns the number of
    /// layers recalibrated.
    /// </summary>
    internal static int RecalibrateBatchNorm(FeatureClassifier network, Tensor images)
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
        const int batch = 1000;
        long rows = images.shape[0];
        for (long start = 0, k = 1; start < rows; start += batch, k++)
        {
            using var scope = NewDisposeScope();
            // Momentum 1/k makes each running statistic the plain average of the k batches' statistics.
            foreach (var layer in layers) layer.momentum = 1.0 / k;
            network.FeaturesAndLogits(images.narrow(0, start, Math.Min(batch, rows - start)));
        }
        foreach (var layer in layers) layer.momentum = 0.1;
        network.eval();
        return layers.Length;
    }
}
