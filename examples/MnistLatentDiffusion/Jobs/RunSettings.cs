using LatentDiffusion.Diffusion;
using LatentDiffusion.Diffusion.Samplers;
using LatentDiffusion.Training;

namespace MnistLatentDiffusion.Jobs;

/// <summary>A classifier-free guidance scale and the band of noise levels t/T it applies on.</summary>
public sealed record GuidanceChoice(double Scale, double MinNoise, double MaxNoise)
{
    public override string ToString() => FormattableString.Invariant($"{Scale:0.##} on [{MinNoise:0.##}, {MaxNoise:0.##}]");
}

/// <summary>Sizes of one end-to-end run. Presets trade quality for time on a 2-core CPU.</summary>
public sealed record RunSettings
{
    public required string Preset { get; init; }
    /// <summary>Training rows used (0 = the whole 60,000).</summary>
    public int TrainRows { get; init; }
    /// <summary>The FID instrument: the library's default network (batch normalisation, augmentation) for this many epochs.</summary>
    public int ClassifierEpochs { get; init; } = 6;
    /// <summary>
    /// The residual VAE with self-attention and vector quantisation (256 codes), 4 epochs: in issue 26's variant table
    /// (docs/results.md) it reconstructs at 1.14x the floor, against 1.25x for the same layers with KL and 1.62x for
    /// the plain stack after 8 epochs, in about the plain stack's training time; and the default run on it beat the
    /// KL one on every generator row (docs/results.md).
    /// </summary>
    public int VaeEpochs { get; init; } = 4;
    public LatentDiffusion.Models.VaeArchitecture VaeArchitecture { get; init; } = LatentDiffusion.Models.VaeArchitecture.Residual;
    public bool VaeAttention { get; init; } = true;
    /// <summary>The VAE's latent regularisation, and its codebook size with VQ.</summary>
    public LatentDiffusion.Models.VaeRegularization VaeRegularization { get; init; } = LatentDiffusion.Models.VaeRegularization.Vq;
    public int VaeCodebookSize { get; init; } = 256;
    /// <summary>Latent channels of the VAE (the latent is channels x 7 x 7 for 28x28 digits).</summary>
    public int VaeLatentChannels { get; init; } = 4;
    public int DiffusionEpochs { get; init; } = 30;
    public int DiffusionWidth { get; init; } = 48;
    /// <summary>The autoguidance denoiser: a width-32 UNet trained for 6 epochs after the main one (0 = none).</summary>
    public int AutoguidanceWidth { get; init; } = 32;
    public int AutoguidanceEpochs { get; init; } = 6;
    /// <summary>
    /// The class-conditional model's autoguidance scale on the noise levels t/T in [<see cref="AutoguidanceMinNoise"/>,
    /// <see cref="AutoguidanceMaxNoise"/>]: samples move away from the autoguidance denoiser's prediction. 1 = off, and
    /// then the conditional model trains no autoguidance denoiser. Off since the VQ VAE: on held-out request sets 1.5 on
    /// [0.4, 1] changed FID by +0.004 +- 0.010 (within the floor's noise) for 12 more network passes per image
    /// (docs/results.md). The unconditional model keeps its own, tuned in the run.
    /// </summary>
    public double AutoguidanceScale { get; init; } = 1;
    public double AutoguidanceMinNoise { get; init; } = 0.4;
    public double AutoguidanceMaxNoise { get; init; } = 1;
    /// <summary>Cosine schedule, v-prediction and Min-SNR-5 weighting: measured better than the seed's linear/epsilon at equal epochs (README).</summary>
    public NoiseScheduleKind Schedule { get; init; } = NoiseScheduleKind.Cosine;
    public DiffusionObjective Objective { get; init; } = DiffusionObjective.Velocity;
    public double MinSnrGamma { get; init; } = 5;
    /// <summary>Generated samples per evaluation set (class-balanced; also the reference size for the validation and random rows).</summary>
    public int Samples { get; init; } = 10_000;
    /// <summary>Held-out request sets every row is measured on (mean +- std); at least 2.</summary>
    public int EvaluationSets { get; init; } = 3;
    /// <summary>The seed's task: a model trained with no label column, on the same VAE, with its own autoguidance denoiser.</summary>
    public int UnconditionalWidth { get; init; } = 48;
    public int UnconditionalEpochs { get; init; } = 16;
    public int UnconditionalAutoguidanceEpochs { get; init; } = 4;
    /// <summary>
    /// Autoguidance scales tried for the unconditional model on its tuning request set; the best is used. The VQ runs
    /// chose 2.5, the largest then tried, with FID still falling steeply (2.96, 1.96, 1.38, 1.09 from 1 to 2.5): 3 and
    /// 3.5 extend the grid.
    /// </summary>
    public double[] UnconditionalAutoguidanceScales { get; init; } = [1.0, 1.5, 2.0, 2.5, 3.0, 3.5];
    /// <summary>
    /// The sampler of both models: UniPC, 20 steps (36 network passes with the guidance bands, against DDIM 50's 90),
    /// the cheapest setting of the solver sweep within the floor's noise of its best (docs/results.md, issue 31).
    /// Their guidance is tuned in the run (see <see cref="GuidanceChoices"/>).
    /// </summary>
    public DiffusionSampler Sampler { get; init; } = new UniPcSampler { Steps = 20 };
    /// <summary>The accuracy on the digit asked for that a guidance setting must reach on the tuning set to be chosen (issue 26); below it for all, the lowest
    /// FID is taken.</summary>
    public double MinimumTuningAccuracy { get; init; } = 0.99;
    /// <summary>
    /// Classifier-free guidance: the scales and bands t/T (outside the band one network pass per step) tried on the
    /// tuning request set; the lowest FID among those reaching <see cref="MinimumTuningAccuracy"/> is used and saved
    /// with the model. On the last plain-VAE run (docs/results.md) 2.25 on [0.5, 0.7] reached 97.1%, the wider bands
    /// 98.8-99.4%: 3 on [0.45, 0.8] sits between them. Without autoguidance, 3 on [0.5, 0.7] fell just short of 99%
    /// (98.96%) and the next, 4, cost a quarter in FID: 3.5 sits between them.
    /// </summary>
    public GuidanceChoice[] GuidanceChoices { get; init; } = [new(3, 0.5, 0.7), new(3.5, 0.5, 0.7), new(4, 0.5, 0.7), new(2.25, 0.4, 0.8), new(3, 0.45, 0.8),
        new(3, 0.4, 0.8)];
    /// <summary>The denoiser samples in bfloat16: generation measured 161 images/s against 89-107 in float32, at the same FID and accuracy (README).</summary>
    public SamplingPrecision SamplingPrecision { get; init; } = SamplingPrecision.BFloat16;
    /// <summary>
    /// The VAE and the UNet train in bfloat16 mixed precision (float32 master weights): a train step measured 30-50% faster
    /// at the same validation loss and FID (README); the time goes to more epochs. The classifier, the FID instrument, stays float32.
    /// </summary>
    public TrainingPrecision TrainingPrecision { get; init; } = TrainingPrecision.BFloat16;
    /// <summary>
    /// On the CPU, replace <see cref="TrainingPrecision"/> and <see cref="SamplingPrecision"/> by whichever number format
    /// runs a 3x3 convolution at the denoiser's inner shape faster on this machine, measured at the start of the run
    /// (about 2 s): bfloat16 where the CPU has bfloat16 instructions (3.6x float32 on the Zen 5 the figures come from),
    /// float32 where bfloat16 is emulated.
    /// </summary>
    public bool MeasurePrecision { get; init; } = true;
    /// <summary>
    /// Epochs of step distillation for the few-step generator (issue 43; 0: no few-step generator): the
    /// class-conditional model's guided sampling distilled into <see cref="FewStepPasses"/> DDIM steps of a copy of its
    /// network, guidance included.
    /// </summary>
    public int FewStepEpochs { get; init; } = 2;
    /// <summary>Network passes per image of the few-step generator: its DDIM steps.</summary>
    public int FewStepPasses { get; init; } = 4;
    /// <summary>DDIM steps the guided teacher takes over each of the student's steps while distilling.</summary>
    public int FewStepSubsteps { get; init; } = 8;
    /// <summary>
    /// The guidance scale of the teacher the few-step student learns (null: the scale the run chose for the
    /// class-conditional model).
    /// </summary>
    public double? FewStepGuidanceScale { get; init; }
    /// <summary>
    /// Clusters of the no-label model's self-labelled guidance (issue 44): k-means on the VAE's latents, never the labels;
    /// 0 trains the plain unconditional model. Off in the default preset: with 20 clusters (guidance 2, autoguidance 3,
    /// chosen on the tuning set) it scored 4.27x the floor against 4.06x without, and its guided sampling took the run
    /// to 40 minutes (docs/results.md, issue 44). The smoke and quick presets keep it, so that its path stays tested.
    /// </summary>
    public int UnconditionalClusters { get; init; }
    /// <summary>Classifier-free guidance scales tried for the self-labelled model on its tuning set (with autoguidance off), the best kept.</summary>
    public double[] UnconditionalGuidanceScales { get; init; } = [1.0, 2.0, 3.0];
    public int Seed { get; init; } = 1;
    public string Device { get; init; } = "cpu";

    public static RunSettings For(string preset) => preset switch
    {
        "quick" => new RunSettings { Preset = "quick", TrainRows = 12_000, ClassifierEpochs = 1, VaeEpochs = 2, DiffusionEpochs = 4, AutoguidanceEpochs = 1,
            Samples = 1_000, UnconditionalEpochs = 3, UnconditionalAutoguidanceEpochs = 1, UnconditionalAutoguidanceScales = [1.0, 2.0],
                FewStepEpochs = 1, UnconditionalClusters = 10, UnconditionalGuidanceScales = [1.0, 2.0],
                GuidanceChoices = [new(2.25, 0.5, 0.7), new(3, 0.4, 0.8)] },
        "default" => new RunSettings { Preset = "default" },
        "full" => new RunSettings { Preset = "full", ClassifierEpochs = 8, VaeEpochs = 8, DiffusionEpochs = 60, DiffusionWidth = 64, UnconditionalEpochs = 60,
            UnconditionalWidth = 64, UnconditionalAutoguidanceEpochs = 6 },
        // The smallest run that still exercises every step; the test suite uses it.
        "smoke" => new RunSettings { Preset = "smoke", TrainRows = 1_500, ClassifierEpochs = 1, VaeEpochs = 1, DiffusionEpochs = 1, Samples = 200,
            Sampler = new UniPcSampler { Steps = 5 }, DiffusionWidth = 16, AutoguidanceWidth = 8, AutoguidanceEpochs = 1, UnconditionalWidth = 16,
                UnconditionalEpochs = 1, UnconditionalAutoguidanceEpochs = 1, UnconditionalAutoguidanceScales = [1.0, 2.0], FewStepEpochs = 1,
                FewStepPasses = 2, FewStepSubsteps = 2, UnconditionalClusters = 4,
                UnconditionalGuidanceScales = [1.0, 2.0], GuidanceChoices = [new(2.25, 0.5, 0.7), new(3, 0.4, 0.8)] },
        _ => throw new ArgumentException($"Unknown preset '{preset}': expected quick, default or full."),
    };
}
