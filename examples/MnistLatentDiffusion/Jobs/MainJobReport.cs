using System.Diagnostics;
using System.Text.Json.Nodes;
using LatentDiffusion.MLNet.Denoising;
using LatentDiffusion.MLNet.Evaluation;
using LatentDiffusion.MLNet.Generation;

namespace MnistLatentDiffusion.Jobs;

/// <summary>The main job's report.json: every figure of the run, the choices made on tuning sets, the times.</summary>
internal static class MainJobReport
{
    private const int Classes = 10;

    /// <summary>What the run measured, stage by stage.</summary>
    public sealed record Parts(int N, int Sets, JsonObject? PrecisionChoice, FidEvaluatorTransformer Classifier, double ClassifierSeconds,
        double TestAccuracy, MeasuredRow Floor, GeneratorMetrics Blurred, GeneratorMetrics Noised, DigitGeneratorTransformer Generator, double ChainSeconds,
        double ReconstructionMse, JsonArray GuidanceTuning, GuidanceChoice Guidance, GuidanceChoice Unconstrained, string GuidanceRule, int TuneCount,
        LatentDiffusionTransformer UnconditionalDiffusion, DigitGeneratorTransformer Unconditional, double UnconditionalSeconds, double AutoguidanceScale,
        double UnconditionalGuidanceScale, JsonArray AutoguidanceTuning, MeasuredRow Conditional, MeasuredRow UnconditionalRow, double SamplingSeconds,
        double UnconditionalSamplingSeconds, MeasuredRow Reconstructions, MeasuredRow Prior, MeasuredRow Random, FewStepStage.Result? FewStep,
        MeasuredRow? FewStepRow, double FewStepSamplingSeconds, double TotalSeconds);

    /// <summary>Where the sampler and its guidance came from, in words.</summary>
    private const string TunedOn = "the guidance scale and band were chosen in this run on the tuning set; the sampler and its steps by the solver sweep "
        + "(docs/results.md, issue 31: guidance tuned per solver on seeds 8,000,000 + i, chosen on held-out sets 101..103,000,000 + i of a model trained "
        + "by this preset, as the cheapest setting within the floor's noise of the best); autoguidance off (RunSettings.AutoguidanceScale 1): decided on "
        + "request sets 300..302 x 1,000,003 + i and 400..402 x 1,000,003 + i of the previous default run's model (docs/results.md); none on this run's "
        + "held-out sets";

    public static JsonObject Build(RunSettings settings, Parts p) => new()
    {
        ["preset"] = settings.Preset,
        ["seed"] = settings.Seed,
        ["device"] = settings.Device,
        ["samples"] = p.N,
        ["evaluationSets"] = p.Sets,
        ["trainRows"] = settings.TrainRows > 0 ? settings.TrainRows : 60000,
        ["sampler"] = Sampler(settings, p),
        ["classifier"] = new JsonObject
        {
            ["kind"] = p.Classifier.ClassifierKind.ToString(), ["instrumentVersion"] = p.Classifier.InstrumentVersion, ["augmentation"] = true,
            ["testAccuracy"] = p.TestAccuracy, ["epochs"] = settings.ClassifierEpochs,
        },
        ["instrument"] = new JsonObject
        {
            ["floor"] = p.Floor.ToJson(),
            ["blurredTestDigitsFid"] = p.Blurred.Fid, ["noisedTestDigitsFid"] = p.Noised.Fid,
            ["distortions"] = "test digits blurred by a 3x3 [1 2 1]/4 kernel, or with Gaussian noise of std 0.1 added (clipped to [0, 1]), against training "
                + $"images 0..{p.N - 1}; the floor's first block is the same comparison without the flaw",
        },
        ["trainingPrecision"] = settings.TrainingPrecision.ToString(),
        ["precisionChoice"] = p.PrecisionChoice,
        ["vae"] = Vae(settings, p),
        ["diffusionModel"] = Diffusion(settings, p.Generator.Diffusion),
        ["unconditionalModel"] = Unconditional(settings, p),
        ["rows"] = new JsonObject
        {
            ["validation"] = p.Floor.ToJson(), ["diffusion"] = p.Conditional.ToJson(), ["unconditionalModel"] = p.UnconditionalRow.ToJson(),
            ["vaeReconstruction"] = p.Reconstructions.ToJson(), ["vae"] = p.Prior.ToJson(), ["random"] = p.Random.ToJson(),
            ["fewStep"] = p.FewStepRow?.ToJson(),
        },
        ["fid"] = new JsonObject
        {
            ["validation"] = p.Floor.Fid.Mean, ["random"] = p.Random.Fid.Mean, ["vae"] = p.Prior.Fid.Mean, ["vaeReconstruction"] = p.Reconstructions.Fid.Mean,
            ["diffusion"] = p.Conditional.Fid.Mean, ["unconditionalModel"] = p.UnconditionalRow.Fid.Mean, ["fewStep"] = p.FewStepRow?.Fid.Mean,
        },
        ["fewStep"] = FewStep(settings, p),
        ["conditional"] = new JsonObject { ["accuracy"] = p.Conditional.Accuracy?.Mean, ["accuracyStd"] = p.Conditional.Accuracy?.Std },
        ["unconditional"] = new JsonObject
        {
            ["labelEntropy"] = p.UnconditionalRow.Entropy.Mean, ["labelEntropyStd"] = p.UnconditionalRow.Entropy.Std, ["maxEntropy"] = Math.Log(Classes),
        },
        ["timings"] = Timings(p),
        ["throughput"] = new JsonObject
        {
            ["generationImagesPerSecond"] = p.Sets * p.N / p.SamplingSeconds, ["unconditionalImagesPerSecond"] = p.Sets * p.N / p.UnconditionalSamplingSeconds,
            ["fewStepImagesPerSecond"] = p.FewStepRow is null ? null : p.Sets * p.N / p.FewStepSamplingSeconds,
            ["diffusionTrainSamplesPerSecond"] = p.Generator.Diffusion.History.SamplesPerSecond,
            ["vaeTrainSamplesPerSecond"] = p.Generator.Vae!.History.SamplesPerSecond,
                ["classifierTrainSamplesPerSecond"] = p.Classifier.History.SamplesPerSecond,
        },
        ["peakWorkingSetMegabytes"] = Process.GetCurrentProcess().PeakWorkingSet64 / 1048576.0,
    };

    private static JsonObject Sampler(RunSettings settings, Parts p)
    {
        var diffusion = p.Generator.Diffusion;
        return new JsonObject
        {
            ["name"] = settings.Sampler.Name, ["steps"] = settings.Sampler.Steps, ["evaluations"] = diffusion.EvaluationsPerSample,
            ["guidanceScale"] = p.Guidance.Scale, ["guidanceMinNoise"] = p.Guidance.MinNoise, ["guidanceMaxNoise"] = p.Guidance.MaxNoise,
            ["autoguidanceScale"] = settings.AutoguidanceScale, ["autoguidanceMinNoise"] = settings.AutoguidanceMinNoise,
            ["autoguidanceMaxNoise"] = settings.AutoguidanceMaxNoise, ["precision"] = settings.SamplingPrecision.ToString(),
            ["denoiserPassesPerImage"] = diffusion.DenoiserPassesPerSample, ["autoguidancePassesPerImage"] = diffusion.AutoguidancePassesPerSample,
            ["tuning"] = p.GuidanceTuning,
            ["chosenBy"] = p.GuidanceRule, ["minimumTuningAccuracy"] = settings.MinimumTuningAccuracy,
            ["unconstrainedBest"] = new JsonObject
            {
                ["guidanceScale"] = p.Unconstrained.Scale, ["guidanceMinNoise"] = p.Unconstrained.MinNoise, ["guidanceMaxNoise"] = p.Unconstrained.MaxNoise,
            },
            ["tuningSeeds"] = $"{MainJob.ConditionalTuningSeed:N0} + i, labels i mod 10, {p.TuneCount} samples per choice against the first {p.TuneCount} "
                + $"test digits",
            ["tunedOn"] = TunedOn,
        };
    }

    private static JsonObject Vae(RunSettings settings, Parts p)
    {
        var vae = p.Generator.Vae!;
        return new JsonObject
        {
            ["reconstructionMse"] = p.ReconstructionMse, ["epochs"] = settings.VaeEpochs, ["architecture"] = vae.Config.Architecture.ToString(),
            ["attention"] = vae.Config.Attention, ["regularization"] = vae.Config.Regularization.ToString(), ["codebookSize"] = vae.Config.CodebookSize,
            ["codesUsed"] = vae.Config.CodesUsed, ["codebookPerplexity"] = vae.Config.CodebookPerplexity,
            ["latentShape"] = new JsonArray(vae.LatentShape.Select(v => (JsonNode)v).ToArray()),
            ["latentChannelScales"] = new JsonArray(vae.Config.LatentScale.Select(v => (JsonNode)(double)v).ToArray()),
        };
    }

    private static JsonObject Diffusion(RunSettings settings, LatentDiffusionTransformer diffusion) => new()
    {
        ["epochs"] = settings.DiffusionEpochs, ["width"] = settings.DiffusionWidth, ["schedule"] = settings.Schedule.ToString(),
        ["objective"] = settings.Objective.ToString(), ["minSnrGamma"] = settings.MinSnrGamma,
        ["autoguidanceWidth"] = diffusion.AutoguidanceHistory.Epochs.Count == 0 ? 0 : settings.AutoguidanceWidth,
        ["autoguidanceEpochs"] = diffusion.AutoguidanceHistory.Epochs.Count == 0 ? 0 : settings.AutoguidanceEpochs,
    };

    private static JsonObject? FewStep(RunSettings settings, Parts p)
    {
        if (p.FewStep is not { } fast) return null;
        var diffusion = fast.Generator.Diffusion;
        return new JsonObject
        {
            ["method"] = "step distillation: each DDIM step of a copy of the class-conditional model's network learns where the guided model lands over "
                + "its interval", ["epochs"] = settings.FewStepEpochs, ["substeps"] = settings.FewStepSubsteps,
            ["teacherGuidanceScale"] = fast.TeacherGuidanceScale, ["seconds"] = fast.Seconds,
            ["sampler"] = diffusion.Sampling.Sampler.Name, ["grid"] = new JsonArray([.. diffusion.Sampling.Sampler.Timesteps!.Select(t => (JsonNode)t)]),
            ["networkPassesPerImage"] = diffusion.DenoiserPassesPerSample + diffusion.AutoguidancePassesPerSample, ["accuracy"] = p.FewStepRow?.Accuracy?.Mean,
            ["accuracyStd"] = p.FewStepRow?.Accuracy?.Std,
            ["chosenBy"] = settings.FewStepGuidanceScale is null ? "the teacher's guidance is the one chosen for the class-conditional model"
                : "the teacher's guidance scale (RunSettings.FewStepGuidanceScale) was chosen on request set 401 x 1,000,003 + i of the previous default "
                + "run's model (docs/results.md), none of this run's held-out sets",
        };
    }

    private static JsonObject Unconditional(RunSettings settings, Parts p) => new()
    {
        ["labels"] = settings.UnconditionalClusters > 0
            ? $"none: trained on a view without the label column; self-labelled guidance on {settings.UnconditionalClusters} k-means clusters of the latents"
            : "none: trained on a view without the label column",
        ["clusters"] = settings.UnconditionalClusters, ["guidanceScale"] = p.UnconditionalGuidanceScale,
        ["epochs"] = settings.UnconditionalEpochs, ["width"] = settings.UnconditionalWidth,
        ["autoguidanceWidth"] = settings.AutoguidanceWidth, ["autoguidanceEpochs"] = settings.UnconditionalAutoguidanceEpochs,
        ["autoguidanceScale"] = p.AutoguidanceScale, ["tuning"] = p.AutoguidanceTuning,
        ["tuningSeeds"] = $"{MainJob.UnconditionalTuningSeed:N0} + i, {p.TuneCount} samples per scale against the first {p.TuneCount} test digits",
        ["denoiserPassesPerImage"] = p.Unconditional.Diffusion.DenoiserPassesPerSample,
        ["autoguidancePassesPerImage"] = p.Unconditional.Diffusion.AutoguidancePassesPerSample,
    };

    private static JsonObject Timings(Parts p)
    {
        var diffusion = p.Generator.Diffusion;
        return new JsonObject
        {
            ["classifierSeconds"] = p.ClassifierSeconds, ["vaeSeconds"] = p.Generator.Vae!.History.TotalSeconds,
                ["diffusionSeconds"] = diffusion.History.TotalSeconds,
            ["autoguidanceSeconds"] = diffusion.AutoguidanceHistory.TotalSeconds,
            ["chainFitSeconds"] = p.ChainSeconds, ["unconditionalModelSeconds"] = p.UnconditionalSeconds,
            ["samplingSeconds"] = p.SamplingSeconds, ["unconditionalSamplingSeconds"] = p.UnconditionalSamplingSeconds,
            ["fewStepSeconds"] = p.FewStep?.Seconds,
            ["fewStepSamplingSeconds"] = p.FewStep is null ? null : p.FewStepSamplingSeconds, ["totalSeconds"] = p.TotalSeconds,
        };
    }
}
