namespace LatentDiffusion.Diffusion;

/// <summary>The number format the denoiser runs in while sampling.</summary>
public enum SamplingPrecision
{
    /// <summary>float32 throughout (default).</summary>
    Float32,
    /// <summary>
    /// The denoiser's weights and activations in bfloat16 (a copy made once per model); the sampler's update, the noise
    /// and the time embedding stay float32. Faster on CPUs with bfloat16 instructions (AVX-512 BF16, AMX) and on recent GPUs.
    /// </summary>
    BFloat16,
}

/// <summary>
/// How to draw samples from a trained diffusion model: sampler, steps, guidance, number format, batch size. Saved with
/// the model; every setting has a default, so settings added later read as their default from older files.
/// </summary>
public sealed class SamplingOptions
{
    /// <summary>The reverse process. Default DDIM.</summary>
    public SamplerKind Sampler { get; set; } = SamplerKind.Ddim;

    /// <summary>Number of denoising steps, 1..T. Default 50.</summary>
    public int Steps { get; set; } = 50;

    /// <summary>
    /// Where the ODE solvers (DPM-Solver++, UniPC, Heun) place their steps; DDIM and DDPM keep their strided timesteps.
    /// Default <see cref="TimestepSpacing.Time"/>.
    /// </summary>
    public TimestepSpacing Spacing { get; set; } = TimestepSpacing.Time;

    /// <summary>
    /// The ODE solvers start from the noisiest timestep whose log-SNR lambda is at least this (see
    /// <see cref="SamplerTimesteps.Start"/>); it only matters for the cosine schedule, whose last timesteps fall to
    /// lambda = -10. DDIM and DDPM start at T-1 whatever it is. Default -5.1 (diffusers' choice for cosine schedules).
    /// </summary>
    public double LogSnrFloor { get; set; } = -5.1;

    /// <summary>DDIM stochasticity in [0, 1] (0 = deterministic, 1 = as much noise as DDPM). Default 0.</summary>
    public double Eta { get; set; }

    /// <summary>DDPM step variance. Default beta-tilde.</summary>
    public DdpmVariance Variance { get; set; } = DdpmVariance.BetaTilde;

    /// <summary>
    /// Classifier-free guidance: 0 = unconditional, 1 = conditional (one network pass per step), above 1 = stronger
    /// conditioning (two passes). Default 1.
    /// </summary>
    public double GuidanceScale { get; set; } = 1.0;

    /// <summary>
    /// Where guidance applies, as a band of noise levels t/T (1 = pure noise, 0 = clean): steps outside
    /// [<see cref="GuidanceMinNoise"/>, <see cref="GuidanceMaxNoise"/>] take the conditional prediction alone (one network
    /// pass instead of two). Guidance matters most at the middle noise levels where the digit's identity forms
    /// (Kynkaanniemi et al., "Applying guidance in a limited interval"). Ignored at scales 0 and 1. Default 0 to 1: every step.
    /// </summary>
    public double GuidanceMinNoise { get; set; }

    /// <summary>Upper end of the guidance band; see <see cref="GuidanceMinNoise"/>. Default 1.</summary>
    public double GuidanceMaxNoise { get; set; } = 1.0;

    /// <summary>
    /// Autoguidance (Karras et al. 2024, "Guiding a diffusion model with a bad version of itself"): each step's prediction
    /// becomes g + a (d - g), where d is the denoiser's and g that of the autoguidance denoiser (a smaller, shorter-trained
    /// denoiser trained with it; LatentDiffusionOptions.AutoguidanceWidth), so that samples move away from its typical
    /// errors. Costs one pass of the autoguidance denoiser per step it applies to (see <see cref="AutoguidanceMinNoise"/>),
    /// and combines with classifier-free guidance. 1 = off. Default 1.
    /// </summary>
    public double AutoguidanceScale { get; set; } = 1.0;

    /// <summary>
    /// Where autoguidance applies, as a band of noise levels t/T like the guidance band: steps outside
    /// [<see cref="AutoguidanceMinNoise"/>, <see cref="AutoguidanceMaxNoise"/>] skip the autoguidance denoiser. Default 0 to 1: every step.
    /// </summary>
    public double AutoguidanceMinNoise { get; set; }

    /// <summary>Upper end of the autoguidance band; see <see cref="AutoguidanceMinNoise"/>. Default 1.</summary>
    public double AutoguidanceMaxNoise { get; set; } = 1.0;

    /// <summary>
    /// Clip each step's predicted clean sample to the range of the training data (per channel, as recorded by the
    /// trainer), and take the noise estimate implied by the clipped prediction: a prediction outside anything seen in
    /// training is an error, and at the noisiest steps an epsilon-predicting model's errors are magnified by
    /// 1 / sqrt(alpha-bar). Like diffusers' clip_sample, with the range taken from the data. Models trained before the
    /// range was recorded sample unclipped. Default true.
    /// </summary>
    public bool ClipToDataRange { get; set; } = true;

    /// <summary>Number format of the denoisers while sampling. Default float32.</summary>
    public SamplingPrecision Precision { get; set; } = SamplingPrecision.Float32;

    /// <summary>Requests per network batch. Default 256.</summary>
    public int BatchSize { get; set; } = 256;

    /// <summary>A copy.</summary>
    public SamplingOptions Clone() => (SamplingOptions)MemberwiseClone();

    /// <summary>
    /// The guidance methods these settings turn on, in the order they combine (the base prediction first goes through
    /// autoguidance, then classifier-free guidance adds its term). A new method is one more line here.
    /// </summary>
    internal IReadOnlyList<IGuidance> GuidanceMethods(int classes) =>
        new IGuidance?[] { Autoguidance.From(this), ClassifierFreeGuidance.From(this, classes) }.OfType<IGuidance>().ToArray();

    /// <summary>Checks every setting on its own, naming it, against a schedule of <paramref name="timesteps"/> steps.</summary>
    internal void Validate(int timesteps)
    {
        const string Owner = nameof(SamplingOptions);
        OptionChecks.Defined(Sampler, nameof(Sampler), Owner);
        OptionChecks.Defined(Spacing, nameof(Spacing), Owner);
        OptionChecks.Finite(LogSnrFloor, nameof(LogSnrFloor), Owner, "a log signal-to-noise ratio, e.g. -5.1");
        OptionChecks.InRange(Steps, 1, timesteps, nameof(Steps), Owner, "the schedule's timesteps");
        // Above 1 DDIM's noise would exceed the variance the step has room for (its direction term becomes imaginary).
        OptionChecks.InRange(Eta, 0, 1, nameof(Eta), Owner, why: "0 = deterministic DDIM, 1 = DDPM-like noise");
        OptionChecks.Defined(Variance, nameof(Variance), Owner);
        OptionChecks.AtLeast(GuidanceScale, 0, nameof(GuidanceScale), Owner);
        CheckBand(nameof(GuidanceMinNoise), GuidanceMinNoise, nameof(GuidanceMaxNoise), GuidanceMaxNoise);
        OptionChecks.AtLeast(AutoguidanceScale, 1, nameof(AutoguidanceScale), Owner, "1 = off");
        CheckBand(nameof(AutoguidanceMinNoise), AutoguidanceMinNoise, nameof(AutoguidanceMaxNoise), AutoguidanceMaxNoise);
        OptionChecks.Defined(Precision, nameof(Precision), Owner);
        OptionChecks.InRange(BatchSize, 1, 1 << 20, nameof(BatchSize), Owner);
    }

    private static void CheckBand(string lowName, double low, string highName, double high)
    {
        OptionChecks.InRange(low, 0, 1, lowName, nameof(SamplingOptions), why: "a noise level");
        OptionChecks.InRange(high, 0, 1, highName, nameof(SamplingOptions), why: "a noise level");
        if (low > high)
            throw new ArgumentOutOfRangeException(lowName, low, $"SamplingOptions.{lowName} must not exceed {highName} ({high}).");
    }
}
