using LatentDiffusion.Models;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace LatentDiffusion.Training;

/// <summary>Trains the FID feature classifier with cross-entropy on flat images and integer labels.</summary>
internal static class ClassifierTraining
{
    public static TrainingHistory Train(FeatureClassifier model, Tensor images, Tensor labels, MinibatchLoop loop, CancellationToken cancellationToken)
        => loop.Run(model, (rows, _) => functional.cross_entropy(model.forward(images[rows]), labels[rows]), cancellationToken: cancellationToken);
}

/// <summary>Trains the VAE: reconstruction (BCE or MSE, summed over pixels) plus a weighted KL to N(0, I), per image.</summary>
internal static class VaeTraining
{
    public static TrainingHistory Train(ConvVae model, Tensor images, Tensor validation, bool binaryCrossEntropy, double klWeight,
        MinibatchLoop loop, CancellationToken cancellationToken)
    {
        Tensor Loss(Tensor x, Generator? generator, bool sample)
        {
            var (mean, logVar) = model.Encode(x);
            var z = sample ? mean + (0.5 * logVar).exp() * randn(mean.shape, generator: generator) : mean;
            var logits = model.DecodeLogits(z);
            var reconstruction = binaryCrossEntropy
                ? functional.binary_cross_entropy_with_logits(logits, x, reduction: Reduction.Sum)
                : functional.mse_loss(functional.sigmoid(logits), x, reduction: Reduction.Sum);
            var kl = -0.5 * (1 + logVar - mean.square() - logVar.exp()).sum();
            return (reconstruction + klWeight * kl) / x.shape[0];
        }

        double ValidationLoss()
        {
            if (validation.shape[0] == 0) return double.NaN;
            using var _ = no_grad();
            using var scope = NewDisposeScope();
            double total = 0;
            for (long i = 0; i < validation.shape[0]; i += 512)
            {
                var x = validation.narrow(0, i, Math.Min(512, validation.shape[0] - i));
                total += Loss(x, null, false).item<float>() * x.shape[0];
            }
            return total / validation.shape[0];
        }

        return loop.Run(model, (rows, generator) => Loss(images[rows], generator, true), ValidationLoss, cancellationToken: cancellationToken);
    }
}
