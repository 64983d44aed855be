using LatentDiffusion.Diffusion;
using Microsoft.ML;

namespace LatentDiffusion.MLNet;

/// <summary>Options of <see cref="DigitGenerator"/>.</summary>
public sealed class DigitGeneratorOptions
{
    /// <summary>Optional integer label column of requests (-1 or absent = unconditional). Default "Label".</summary>
    public string LabelColumnName { get; set; } = "Label";
    /// <summary>Optional integer seed column; without it seeds come from <see cref="Seed"/> and the row position. Default "Seed".</summary>
    public string SeedColumnName { get; set; } = "Seed";
    /// <summary>Output: images as Vector&lt;Single, image size&gt; in [0,1]. Default "GeneratedImage".</summary>
    public string OutputColumnName { get; set; } = "GeneratedImage";
    /// <summary>Sampler, steps, guidance and batch size. Default DDIM, 50 steps, guidance 1, batches of 256.</summary>
    public SamplingOptions Sampling { get; set; } = new();
    /// <summary>Seed used when the requests have no seed column. Default 1.</summary>
    public int Seed { get; set; } = 1;
}

/// <summary>
/// Turns a diffusion model into a generator of images: with the VAE whose latents it learned (latent diffusion), or
/// alone when it learned pixels. It learns nothing itself. It is given its models explicitly: either the estimators,
/// when it follows them in the same chain (<c>vae.Append(diffusion).Append(mlContext.Transforms.GenerateDigits(diffusion, vae))</c>:
/// it takes what they fitted), or transformers fitted or loaded earlier.
/// </summary>
public sealed class DigitGenerator : IEstimator<DigitGeneratorTransformer>
{
    private const string Owner = nameof(DigitGeneratorOptions);
    private readonly Func<LatentDiffusionTransformer?> diffusion;
    private readonly Func<VaeEncoderTransformer?> vae;
    private readonly DigitGeneratorOptions options;

    /// <summary>A latent generator from the estimators fitted before it in the same chain; prefer <c>mlContext.Transforms.GenerateDigits(diffusion, vae)</c>.</summary>
    public DigitGenerator(LatentDiffusionTrainer diffusion, VaeEncoderEstimator vae, DigitGeneratorOptions? options = null)
        : this(Checked(diffusion), vae is null ? throw new ArgumentNullException(nameof(vae)) : () => vae.LastFitted, true, options)
    {
    }

    /// <summary>A latent generator from fitted (or loaded) transformers; prefer <c>mlContext.Transforms.GenerateDigits(diffusion, vae)</c>.</summary>
    public DigitGenerator(LatentDiffusionTransformer diffusion, VaeEncoderTransformer vae, DigitGeneratorOptions? options = null)
        : this(Checked(diffusion), vae is null ? throw new ArgumentNullException(nameof(vae)) : () => vae, true, options)
    {
    }

    /// <summary>A pixel-space generator from the diffusion trainer fitted before it in the same chain (no VAE: the trainer learned the images themselves).</summary>
    public DigitGenerator(LatentDiffusionTrainer diffusion, DigitGeneratorOptions? options = null)
        : this(Checked(diffusion), () => null, false, options)
    {
    }

    /// <summary>A pixel-space generator from a fitted (or loaded) diffusion model that learned the images themselves.</summary>
    public DigitGenerator(LatentDiffusionTransformer diffusion, DigitGeneratorOptions? options = null)
        : this(Checked(diffusion), () => null, false, options)
    {
    }

    private static Func<LatentDiffusionTransformer?> Checked(LatentDiffusionTransformer diffusion)
    {
        ArgumentNullException.ThrowIfNull(diffusion);
        return () => diffusion;
    }

    private static Func<LatentDiffusionTransformer?> Checked(LatentDiffusionTrainer diffusion)
    {
        ArgumentNullException.ThrowIfNull(diffusion);
        return () => diffusion.LastFitted;
    }

    private readonly bool latent;

    private DigitGenerator(Func<LatentDiffusionTransformer?> diffusion, Func<VaeEncoderTransformer?> vae, bool latent, DigitGeneratorOptions? options)
    {
        this.latent = latent;
        this.diffusion = diffusion;
        this.vae = vae;
        this.options = options ?? new DigitGeneratorOptions();
        var o = this.options;
        OptionChecks.ColumnName(o.LabelColumnName, nameof(o.LabelColumnName), Owner);
        OptionChecks.ColumnName(o.SeedColumnName, nameof(o.SeedColumnName), Owner);
        OptionChecks.ColumnName(o.OutputColumnName, nameof(o.OutputColumnName), Owner);
        OptionChecks.NotNull(o.Sampling, nameof(o.Sampling), Owner);
        o.Sampling.Validate(DiffusionModelConfig.MaxTimesteps);
    }

    /// <inheritdoc/>
    public DigitGeneratorTransformer Fit(IDataView input)
    {
        var fittedDiffusion = diffusion() ?? throw new InvalidOperationException(
            "GenerateDigits was given the LatentDiffusionTrainer, which has not been fitted yet: put the trainer before GenerateDigits in the same chain, or pass its fitted LatentDiffusionTransformer.");
        var fittedVae = vae();
        if (latent && fittedVae is null)
            throw new InvalidOperationException(
                "GenerateDigits was given the VaeEncoderEstimator, which has not been fitted yet: put it before GenerateDigits in the same chain, or pass its fitted VaeEncoderTransformer.");
        var transformer = new DigitGeneratorTransformer(fittedVae?.Model, fittedDiffusion.Model, new DigitGeneratorTransformer.Settings
        {
            LabelColumn = options.LabelColumnName, SeedColumn = options.SeedColumnName, OutputColumn = options.OutputColumnName, Seed = options.Seed,
            Sampling = options.Sampling.Clone(),
        });
        transformer.GetOutputSchema(input.Schema);   // the requests' label and seed columns, checked now rather than at the first cursor
        return transformer;
    }

    /// <inheritdoc/>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ComponentSupport.OptionalIntegerShape(inputSchema, options.LabelColumnName, "requested labels");
        ComponentSupport.OptionalIntegerShape(inputSchema, options.SeedColumnName, "request seeds");
        var shape = vae()?.ImageShape.ToArray() ?? diffusion()?.DataShape.ToArray() ?? [1];
        return ComponentSupport.Append(inputSchema, [DigitGeneratorTransformer.ImageColumn(options.OutputColumnName, shape)]);
    }
}
