using LatentDiffusion.MLNet.Autoencoder;
using LatentDiffusion.MLNet.Denoising;
using LatentDiffusion.MLNet.Persistence;
using Microsoft.ML;

namespace LatentDiffusion.MLNet.Generation;

/// <summary>
/// Turns a diffusion model into a generator of images: with the VAE whose latents it learned (latent diffusion), or
/// alone when it learned pixels. Given the estimators, it is one composite estimator: it fits the VAE on the images,
/// the diffusion trainer on the VAE's latents, and wraps both (<c>mlContext.Transforms.GenerateDigits(diffusion, vae).Fit(images)</c>).
/// Given transformers fitted or loaded earlier, it learns nothing and only wraps them.
/// </summary>
public sealed class DigitGenerator : IEstimator<DigitGeneratorTransformer>
{
    private readonly LatentDiffusionTrainer? trainer;
    private readonly VaeEncoderEstimator? vaeEstimator;
    private readonly LatentDiffusionTransformer? diffusion;
    private readonly VaeEncoderTransformer? vae;
    private readonly DigitGeneratorOptions options;

    /// <summary>
    /// A latent generator that fits <paramref name="vae"/> on the images and <paramref name="diffusion"/> on its latents;
    /// prefer <c>mlContext.Transforms.GenerateDigits(diffusion, vae)</c>.
    /// </summary>
    public DigitGenerator(LatentDiffusionTrainer diffusion, VaeEncoderEstimator vae, DigitGeneratorOptions? options = null) : this(options)
    {
        (trainer, vaeEstimator) = (NotNull(diffusion), NotNull(vae));
    }

    /// <summary>A latent generator from fitted (or loaded) transformers; prefer <c>mlContext.Transforms.GenerateDigits(diffusion, vae)</c>.</summary>
    public DigitGenerator(LatentDiffusionTransformer diffusion, VaeEncoderTransformer vae, DigitGeneratorOptions? options = null) : this(options)
    {
        (this.diffusion, this.vae) = (NotNull(diffusion), NotNull(vae));
    }

    /// <summary>A pixel-space generator that fits <paramref name="diffusion"/> on the images themselves (no VAE).</summary>
    public DigitGenerator(LatentDiffusionTrainer diffusion, DigitGeneratorOptions? options = null) : this(options)
    {
        trainer = NotNull(diffusion);
    }

    /// <summary>A pixel-space generator from a fitted (or loaded) diffusion model that learned the images themselves.</summary>
    public DigitGenerator(LatentDiffusionTransformer diffusion, DigitGeneratorOptions? options = null) : this(options)
    {
        this.diffusion = NotNull(diffusion);
    }

    private DigitGenerator(DigitGeneratorOptions? options)
    {
        this.options = options ?? new DigitGeneratorOptions();
        this.options.Validate();
    }

    private static T NotNull<T>(T value) where T : class => value ?? throw new ArgumentNullException(typeof(T).Name);

    /// <inheritdoc/>
    public DigitGeneratorTransformer Fit(IDataView input)
    {
        if (trainer is null)
        {
            var wrapped = Wrap(diffusion!, vae);
            wrapped.GetOutputSchema(input.Schema);   // the requests' label and seed columns, checked now rather than at the first cursor
            return wrapped;
        }
        // Every column both models need, checked before either trains.
        GetOutputSchema(MLNetInternals.ShapeOf(input.Schema));
        var fittedVae = vaeEstimator?.Fit(input);
        return Wrap(trainer.Fit(fittedVae?.Transform(input) ?? input), fittedVae);
    }

    private DigitGeneratorTransformer Wrap(LatentDiffusionTransformer fitted, VaeEncoderTransformer? decoder) =>
        new(fitted.WithRequests(options.LabelColumnName, options.SeedColumnName, options.Seed, options.Sampling), decoder, options.OutputColumnName);

    /// <summary>
    /// Refuses the chain <c>vae.Append(diffusion).Append(GenerateDigits(diffusion, vae))</c> of earlier versions, which
    /// would now train both models twice: the input then already holds the trainer's output column.
    /// </summary>
    private void RefuseFittedParts(SchemaShape input)
    {
        if (trainer is not null && input.Any(c => c.Name == trainer.OutputColumnName))
            throw new InvalidOperationException(
                $"GenerateDigits was given the estimators, and its input already has the column '{trainer.OutputColumnName}' that the "
                + "LatentDiffusionTrainer writes: given estimators, GenerateDigits fits them itself. Fit it on the images alone "
                + "(ml.Transforms.GenerateDigits(diffusion, vae).Fit(images)) instead of appending it to vae.Append(diffusion), or give it "
                + "the fitted transformers (model.OfType<LatentDiffusionTransformer>().Single() and the VaeEncoderTransformer).");
    }

    /// <inheritdoc/>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        RefuseFittedParts(inputSchema);
        if (trainer is not null)
            trainer.GetOutputSchema(vaeEstimator?.GetOutputSchema(inputSchema) ?? inputSchema);
        ComponentSupport.OptionalIntegerShape(inputSchema, options.LabelColumnName, "requested labels");
        ComponentSupport.OptionalIntegerShape(inputSchema, options.SeedColumnName, "request seeds");
        // The image size is known once the models are fitted.
        var shape = vae?.ImageShape ?? diffusion?.DataShape ?? [1];
        return ComponentSupport.Append(inputSchema, [LatentDiffusionTransformer.OutputColumn(options.OutputColumnName, shape)]);
    }
}
