using LatentDiffusion.Data;
using LatentDiffusion.MLNet.Autoencoder;
using LatentDiffusion.MLNet.Denoising;
using LatentDiffusion.MLNet.Evaluation;
using LatentDiffusion.Training;
using Microsoft.ML;
using Microsoft.ML.Data;
using static TorchSharp.torch;

namespace LatentDiffusion.Tests.Training;

[Trait("Data", "MNIST")]
public class TrainingPrecisionTests
{
    /// <summary>y = x W + b with a known W and b; returns the trained layer.</summary>
    private static TorchSharp.Modules.Linear FitLinear(TrainingPrecision precision, List<double>? losses = null)
    {
        using var init = new Generator(5);
        var x = randn([2048, 8], generator: init);
        var trueWeight = randn([8, 3], generator: init);
        var y = x.matmul(trueWeight) + 0.5;
        manual_seed(11);
        var layer = nn.Linear(8, 3);
        var loop = new MinibatchLoop
        {
            Settings = new TrainingRun { Device = CPU, BatchSize = 64, LearningRate = 0.05, Seed = 3, Precision = precision },
            Model = "linear", Rows = 2048, Epochs = 30, WeightDecay = 0, WarmupSteps = 10,
        };
        using var batches = new TensorBatches(x, y);
        var history = loop.Run(new LoopWork
        {
            Module = layer, Batches = batches, Loss = (xb, yb, _) => nn.functional.mse_loss(layer.forward(xb.to_type(layer.weight!.dtype)).to_type(float32), yb!),
        });
        losses?.AddRange(history.Epochs.Select(e => e.TrainLoss));
        Assert.Equal(ScalarType.Float32, layer.weight!.dtype);
        var error = (layer.weight!.detach().t() - trueWeight).abs().max().item<float>();
        Assert.InRange(error, 0, 0.05);
        return layer;
    }

    [Fact]
    public void Mixed_precision_training_converges_and_leaves_float32_master_weights()
    {
        var losses = new List<double>();
        using var layer = FitLinear(TrainingPrecision.BFloat16, losses);
        Assert.True(losses[^1] < losses[0] / 100, $"loss went from {losses[0]} to {losses[^1]}");

        // Weights updated in bfloat16 alone would all be bfloat16 numbers (low 16 bits zero); float32 masters are not.
        var bits = layer.weight!.detach().flatten().data<float>().ToArray().Select(BitConverter.SingleToInt32Bits);
        Assert.Contains(bits, b => (b & 0xFFFF) != 0);
    }

    [Fact]
    public void Mixed_precision_training_is_seeded_and_really_differs_from_float32()
    {
        float[] Weights(TrainingPrecision p) { using var l = FitLinear(p); return l.weight!.detach().flatten().data<float>().ToArray(); }
        var mixed = Weights(TrainingPrecision.BFloat16);
        Assert.Equal(mixed, Weights(TrainingPrecision.BFloat16));
        Assert.NotEqual(mixed, Weights(TrainingPrecision.Float32));
    }

    [Fact]
    public void A_vae_trained_in_mixed_precision_is_float32_seeded_and_close_to_float32_training()
    {
        var ml = new MLContext(1);
        var data = ml.Data.TakeRows(ml.Data.LoadMnist(MnistSplit.Train), 600);
        VaeEncoderTransformer Fit(TrainingPrecision p) =>
            ml.Transforms.EncodeToLatent(new VaeEncoderOptions { Epochs = 2, Width = 8, Seed = 7, Precision = p }).Fit(data);
        var mixed = Fit(TrainingPrecision.BFloat16);
        Assert.All(mixed.Model.Network.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
        float[] Latents(VaeEncoderTransformer t) => t.Transform(data).GetColumn<float[]>("Latent").Take(20).SelectMany(v => v).ToArray();
        var latents = Latents(mixed);
        Assert.Equal(latents, Latents(Fit(TrainingPrecision.BFloat16)));

        var reference = Fit(TrainingPrecision.Float32);
        double mixedLoss = mixed.History.Epochs[^1].ValidationLoss, referenceLoss = reference.History.Epochs[^1].ValidationLoss;
        Assert.InRange(mixedLoss / referenceLoss, 0.9, 1.1);
    }

    [Fact]
    public void An_unknown_precision_is_rejected_naming_the_option()
    {
        var ml = new MLContext(1);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() =>
            ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions { Precision = (TrainingPrecision)7 }));
        Assert.Contains("LatentDiffusionOptions.Precision", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.EncodeToLatent(new VaeEncoderOptions { Precision = (TrainingPrecision)7 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => ml.Transforms.FidEvaluator(new FidEvaluatorOptions { Precision = (TrainingPrecision)7 }));
    }
}
