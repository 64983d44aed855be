// The README's quickstart, verbatim between the markers; QuickstartTests keeps the two identical, and the
// compiler keeps this one compiling.
#pragma warning disable CS8321 // the quickstart is compiled, not run: it trains at full size
namespace LatentDiffusion.Tests.Readme;

using LatentDiffusion.Data;
using LatentDiffusion.Diffusion;
using LatentDiffusion.MLNet;
using LatentDiffusion.Training;
using Microsoft.ML;

public static class Quickstart
{
    public static void Run()
    {
        // README:begin
        var ml = new MLContext(seed: 1);
        IDataView train = ml.Data.LoadMnist(MnistSplit.Train);   // Label (Int32) + Image (784 floats in [0,1])
        IDataView test = ml.Data.LoadMnist(MnistSplit.Test);

        // VAE -> latent diffusion -> generator, one .Append chain fitted on the training split. The generator is told
        // which VAE and which diffusion trainer to take its models from.
        var vae = ml.Transforms.EncodeToLatent(new VaeEncoderOptions { Epochs = 4, Precision = TrainingPrecision.BFloat16 });
        var diffusion = ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions
        {
            Epochs = 38, Schedule = NoiseScheduleKind.Cosine, Objective = DiffusionObjective.Velocity, LossWeighting = LossWeighting.MinSnr,
            Precision = TrainingPrecision.BFloat16,            // bfloat16 forward/backward, float32 master weights
            AutoguidanceWidth = 32, AutoguidanceEpochs = 6,    // a small, briefly trained UNet for autoguidance
        });
        var pipeline = vae.Append(diffusion).Append(ml.Transforms.GenerateDigits(diffusion, vae, new DigitGeneratorOptions
        {
            // Guidance 2.25, but only on noise levels t/T in [0.5, 0.7]: 10 of the 50 steps take a second UNet pass.
            // Autoguidance 1.5 on [0.4, 1]: 30 steps also run the small UNet, and the sample moves away from its prediction.
            // The UNets sample in bfloat16 (a copy of their weights): faster on CPUs with AVX-512 BF16, same FID here.
            Sampling = new SamplingOptions
            {
                Steps = 50, GuidanceScale = 2.25, GuidanceMinNoise = 0.5, GuidanceMaxNoise = 0.7, Precision = SamplingPrecision.BFloat16,
                AutoguidanceScale = 1.5, AutoguidanceMinNoise = 0.4,
            },
        }));
        var model = pipeline.Fit(train);
        ml.Model.Save(model, train.Schema, "digits.zip");

        // Generate: one row per request (label, seed); the same seed gives the same image.
        var requests = ml.Data.LoadFromEnumerable(Enumerable.Range(0, 1000)
            .Select(i => new DigitRequest { Label = i % 10, Seed = i }));
        IDataView images = model.LastTransformer.Transform(requests);   // + GeneratedImage (784 floats)

        // Score any generator with FID against the test split.
        var fid = ml.Transforms.FidEvaluator().Fit(train);
        GeneratorMetrics metrics = fid.Evaluate(images, test, generatedImageColumn: "GeneratedImage", requestedLabelColumn: "Label");
        Console.WriteLine($"FID {metrics.Fid:F2}, accuracy {metrics.ConditionalAccuracy:P1}");

        // In another process: register once, then load.
        var other = new MLContext();
        other.ComponentCatalog.RegisterLatentDiffusion();
        ITransformer loaded = other.Model.Load("digits.zip", out var schema);
        // README:end
    }

    public sealed class DigitRequest
    {
        public int Label { get; set; }
        public long Seed { get; set; }
    }
}
