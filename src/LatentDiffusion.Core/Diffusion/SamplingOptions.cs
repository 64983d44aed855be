using LatentDiffusion.Diffusion.Guidance;
using LatentDiffusion.Diffusion.Samplers;

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
/// How to draw samples from a trained diffusion model: the sampler (with its own settings), guidance, number format,
/// batch size. Saved with the model; every setting has a default, so settings added later read as their default from
/// older files. Both engines read it and check it with the same rules.
/// </summary>
public sealed class SamplingOptions
{
    /// <summary>
    /// The reverse process and its own settings (steps, and whatever else that sampler has): a typed choice, for example
    /// <c>new UniPcSampler { Steps = 20 }</c>. Default DDIM with 50 steps.
    /// </summary>
    public DiffusionSampler Sampler { get; set; } = new DdimSampler();

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

    /// <summary>A copy (the sampler is immutable and shared).</summary>
    public SamplingOptions Clone() => (SamplingOptions)MemberwiseClone();

    /// <summary>
    /// The guidance methods these settings turn on, in the order they combine (the base prediction first goes through
    /// autoguidance, then classifier-free guidance adds its term). A new method is one more line here.
    /// </summary>
    public IReadOnlyList<IGuidance> GuidanceMethods(int classes) =>
        new IGuidance?[] { Autoguidance.From(this), ClassifierFreeGuidance.From(this, classes) }.OfType<IGuidance>().ToArray();

    /// <summary>Checks every setting on its own, naming it, against a schedule of <paramref name="timesteps"/> steps.</summary>
    public void Validate(int timesteps) => Validate(() => Sampler.Validate(timesteps));

    /// <summary>Checks every setting on its own, naming it, against <paramref name="schedule"/>.</summary>
    public void Validate(NoiseSchedule schedule)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        Validate(() => Sampler.Validate(schedule));
    }

    private void Validate(Action checkSampler)
    {
        const string Owner = nameof(SamplingOptions);
        OptionChecks.NotNull(Sampler, nameof(Sampler), Owner);
        checkSampler();
        OptionChecks.AtLeast(GuidanceScale, 0, nameof(GuidanceScale), Owner);
        CheckBand(nameof(GuidanceMinNoise), GuidanceMinNoise, nameof(GuidanceMaxNoise), GuidanceMaxNoise);
        OptionChecks.AtLeast(AutoguidanceScale, 1, nameof(AutoguidanceScale), Owner, "1 = off");
        CheckBand(nameof(AutoguidanceMinNoise), AutoguidanceMinNoise, nameof(AutoguidanceMaxNoise), AutoguidanceMaxNoise);
        OptionChecks.Defined(Precision, nameof(Precision), Owner);
        OptionChecks.InRange(BatchSize, 1, 1 << 20, nameof(BatchSize), Owner);
    }

    /// <summary>
    /// Checks every setting against <paramref name="model"/>: against its schedule, and whether it has what each
    /// guidance method needs (an autoguidance denoiser).
    /// </summary>
    public void Validate(DiffusionProcess model)
    {
        ArgumentNullException.ThrowIfNull(model);
        Validate(new NoiseSchedule(model.Schedule, model.Timesteps));
        foreach (var method in GuidanceMethods(model.Classes)) method.Check(model.HasAutoguidance);
    }

    private static void CheckBand(string lowName, double low, string highName, double high)
    {
        OptionChecks.InRange(low, 0, 1, lowName, nameof(SamplingOptions), why: "a noise level");
        OptionChecks.InRange(high, 0, 1, highName, nameof(SamplingOptions), why: "a noise level");
        if (low > high)
            throw new ArgumentOutOfRangeException(lowName, low, $"SamplingOptions.{lowName} must not exceed {highName} ({high}), got {low}.");
    }
}
