using System.Globalization;
using LatentDiffusion.Diffusion;
using LatentDiffusion.Diffusion.Samplers;
using LatentDiffusion.MLNet.Autoencoder;
using LatentDiffusion.MLNet.Denoising;
using LatentDiffusion.MLNet.Evaluation;
using LatentDiffusion.Models;
using LatentDiffusion.Runtime;
using LatentDiffusion.Training;
using Microsoft.ML;

namespace LatentDiffusion.Tests.MLNet;

/// <summary>Each option of each Options class is checked on its own when the estimator is built: the error names it, what is allowed, and the value given.</summary>
public class OptionValidationTests
{
    private static object[] Case(string option, object value, Func<MLContext, object> build) => [option, value, build];

    public static IEnumerable<object[]> BadOptions()
    {
        yield return Case("LatentChannels", 0, ml => ml.Transforms.EncodeToLatent(new VaeEncoderOptions { LatentChannels = 0 }));
        yield return Case("Downsampling", 3, ml => ml.Transforms.EncodeToLatent(new VaeEncoderOptions { Downsampling = 3 }));
        yield return Case("ImageShape", "[3, 0, 5]", ml => ml.Transforms.EncodeToLatent(new VaeEncoderOptions { ImageShape = [3, 0, 5] }));
        yield return Case("Levels", 4, ml => ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions { Levels = 4 }));
        yield return Case("Depth", 0, ml => ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions { Depth = 0 }));
        yield return Case("Width", 1, ml => ml.Transforms.EncodeToLatent(new VaeEncoderOptions { Width = 1 }));
        yield return Case("KlWeight", -0.5, ml => ml.Transforms.EncodeToLatent(new VaeEncoderOptions { KlWeight = -0.5 }));
        yield return Case("Epochs", 0, ml => ml.Transforms.EncodeToLatent(new VaeEncoderOptions { Epochs = 0 }));
        yield return Case("ValidationFraction", 1.0, ml => ml.Transforms.EncodeToLatent(new VaeEncoderOptions { ValidationFraction = 1 }));
        yield return Case("Reconstruction", (ReconstructionLoss)9, ml => ml.Transforms.EncodeToLatent(new VaeEncoderOptions { Reconstruction = (ReconstructionLoss)9 }));
        yield return Case("BatchSize", 0, ml => ml.Transforms.EncodeToLatent(new VaeEncoderOptions { BatchSize = 0 }));
        yield return Case("LearningRate", double.NaN, ml => ml.Transforms.EncodeToLatent(new VaeEncoderOptions { LearningRate = double.NaN }));
        yield return Case("Device", (ComputeDevice)5, ml => ml.Transforms.EncodeToLatent(new VaeEncoderOptions { Device = (ComputeDevice)5 }));
        yield return Case("ImageColumnName", "", ml => ml.Transforms.EncodeToLatent(new VaeEncoderOptions { ImageColumnName = "" }));

        yield return Case("Timesteps", 1, ml => ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions { Timesteps = 1 }));
        yield return Case("Width", 9, ml => ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions { Width = 9 }));
        yield return Case("Width", 2, ml => ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions { Width = 2 }));
        yield return Case("Epochs", -1, ml => ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions { Epochs = -1 }));
        yield return Case("EmaDecay", 1.0, ml => ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions { EmaDecay = 1 }));
        yield return Case("LabelDropout", 1.5, ml => ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions { LabelDropout = 1.5 }));
        yield return Case("MinSnrGamma", -1.0, ml => ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions { MinSnrGamma = -1 }));
        yield return Case("ValidationFraction", -0.1, ml => ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions { ValidationFraction = -0.1 }));
        yield return Case("Classes", 0, ml => ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions { Classes = 0 }));
        yield return Case("AutoguidanceWidth", 5, ml => ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions { AutoguidanceWidth = 5 }));
        yield return Case("AutoguidanceEpochs", 0, ml => ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions { AutoguidanceWidth = 16, AutoguidanceEpochs = 0 }));
        yield return Case("Schedule", (NoiseScheduleKind)4, ml => ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions { Schedule = (NoiseScheduleKind)4 }));
        yield return Case("Objective", (DiffusionObjective)8, ml => ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions { Objective = (DiffusionObjective)8 }));
        yield return Case("Loss", (DiffusionLossKind)3, ml => ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions { Loss = (DiffusionLossKind)3 }));
        yield return Case("Denoiser", (DenoiserKind)6, ml => ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions { Denoiser = (DenoiserKind)6 }));
        yield return Case("DataShape", "[4, 0, 7]", ml => ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions { DataShape = [4, 0, 7] }));
        yield return Case("Precision", (TrainingPrecision)7, ml => ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions { Precision = (TrainingPrecision)7 }));
        yield return Case("Sampling", "null", ml => ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions { Sampling = null! }));
        yield return Case("Steps", 1001, ml => ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions { Sampling = new() { Sampler = new DdimSampler { Steps = 1001 } } }));
        yield return Case("Eta", -1.0, ml => ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions { Sampling = new() { Sampler = new DdimSampler { Eta = -1 } } }));
        // Above 1 DDIM's step has no room for that much noise (issue 32: Eta 5 gave flat grey images).
        yield return Case("Eta", 5.0, ml => ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions { Sampling = new() { Sampler = new DdimSampler { Eta = 5 } } }));
        // Issue 32: an empty folder name wrote checkpoints into the current folder.
        yield return Case("CheckpointDirectory", "", ml => ml.Transforms.EncodeToLatent(new VaeEncoderOptions { CheckpointDirectory = "" }));
        yield return Case("GuidanceScale", double.PositiveInfinity, ml => ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions { Sampling = new() { GuidanceScale = double.PositiveInfinity } }));
        yield return Case("GuidanceMaxNoise", 1.2, ml => ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions { Sampling = new() { GuidanceMaxNoise = 1.2 } }));
        yield return Case("AutoguidanceMinNoise", 0.9, ml => ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions { Sampling = new() { AutoguidanceMinNoise = 0.9, AutoguidanceMaxNoise = 0.5 } }));
        yield return Case("BatchSize", 0, ml => ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions { Sampling = new() { BatchSize = 0 } }));
        yield return Case("Sampler", "null", ml => ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions { Sampling = new() { Sampler = null! } }));
        yield return Case("Spacing", (TimestepSpacing)9, ml => ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions
        {
            Sampling = new() { Sampler = new UniPcSampler { Spacing = (TimestepSpacing)9 } },
        }));
        // Issue 42: a floor above every timestep's log-SNR was refused with a message about timesteps that named neither.
        yield return Case("LogSnrFloor", 50.0, ml => ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions
        {
            Sampling = new() { Sampler = new UniPcSampler { Steps = 5, LogSnrFloor = 50 } },
        }));
        yield return Case("Timesteps", 1000, ml => ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions
        {
            Sampling = new() { Sampler = new UniPcSampler { Timesteps = [1000, 500, 0] } },
        }));

        yield return Case("Classes", 1, ml => ml.Transforms.FidEvaluator(new FidEvaluatorOptions { Classes = 1 }));
        yield return Case("Epochs", 0, ml => ml.Transforms.FidEvaluator(new FidEvaluatorOptions { Epochs = 0 }));
        yield return Case("Classifier", (FidClassifierKind)7, ml => ml.Transforms.FidEvaluator(new FidEvaluatorOptions { Classifier = (FidClassifierKind)7 }));
        yield return Case("ScoreColumnName", " ", ml => ml.Transforms.FidEvaluator(new FidEvaluatorOptions { ScoreColumnName = " " }));
    }

    public sealed class LatentRow
    {
        [Microsoft.ML.Data.VectorType(4, 7, 7)] public float[] Latent { get; set; } = [];
    }

    [Fact]
    public void A_unet_width_its_group_normalisation_cannot_split_is_refused_before_training_naming_the_width()
    {
        var ml = new MLContext(1);
        var data = ml.Data.LoadFromEnumerable(Enumerable.Range(0, 8).Select(_ => new LatentRow { Latent = new float[196] }).ToList());
        var e = Assert.Throws<ArgumentOutOfRangeException>(() =>
            ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions { Width = 12, LabelColumnName = null, Epochs = 1 }).Fit(data));
        Assert.Contains("needs a width of 4 or a multiple of 8", e.Message);
        Assert.Contains("got 12", e.Message);
    }

    [Theory]
    [MemberData(nameof(BadOptions))]
    public void Each_bad_option_is_rejected_on_its_own_naming_it_the_range_and_the_value(string option, object value, Func<MLContext, object> build)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => build(new MLContext(1)));
        Assert.Equal(option, e.ParamName);
        Assert.Contains(option, e.Message);
        Assert.Contains(Convert.ToString(value, CultureInfo.CurrentCulture)!, e.Message);
        Assert.Matches("must (be|have|not|name|leave)", e.Message);
    }
}
