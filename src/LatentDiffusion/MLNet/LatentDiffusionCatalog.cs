using LatentDiffusion.MLNet.Autoencoder;
using LatentDiffusion.MLNet.Denoising;
using LatentDiffusion.MLNet.Evaluation;
using LatentDiffusion.MLNet.Formats;
using LatentDiffusion.MLNet.Generation;
using LatentDiffusion.MLNet.Persistence;
using Microsoft.ML.Runtime;

// In ML.NET's namespace so that mlContext.Transforms.EncodeToLatent(...) is found without another using.
namespace Microsoft.ML;

/// <summary>Catalog extension methods for the LatentDiffusion components, in ML.NET style.</summary>
public static class LatentDiffusionCatalog
{
    /// <summary>
    /// Registers the loaders of the LatentDiffusion transformers with this context, so that
    /// <c>mlContext.Model.Load</c> can restore them. Call it once per MLContext before loading a saved model in a
    /// fresh process (the catalog methods below call it for you when you build a pipeline in the same context).
    /// This is the equivalent of ML.NET's <c>ComponentCatalog.RegisterAssembly</c> for custom mappings.
    /// </summary>
    public static void RegisterLatentDiffusion(this ComponentCatalog catalog)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        MLNetInternals.Register(catalog, ComponentFormats.All);
    }

    /// <summary>The catalog's environment, with this package's loaders registered in it.</summary>
    private static IHostEnvironment Context(TransformsCatalog catalog)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        var environment = MLNetInternals.EnvironmentOf(catalog);
        environment.ComponentCatalog.RegisterLatentDiffusion();
        return environment;
    }

    /// <summary>A VAE that encodes the image column into a standardised latent column (default 4x7x7 for 28x28 digits).</summary>
    public static VaeEncoderEstimator EncodeToLatent(this TransformsCatalog catalog, VaeEncoderOptions? options = null)
        => new(Context(catalog), options);

    /// <summary>A diffusion model (DDPM-trained denoiser) over a vector column such as the VAE's latents, optionally class-conditional.</summary>
    public static LatentDiffusionTrainer TrainLatentDiffusion(this TransformsCatalog catalog, LatentDiffusionOptions? options = null)
        => new(Context(catalog), options);

    /// <summary>
    /// Distils a fitted model's guidance into its network: fitted on the data the model learned, it returns a student
    /// that gives the guided prediction in one pass per step (see <see cref="GuidanceDistiller"/>).
    /// </summary>
    public static GuidanceDistiller DistillGuidance(this TransformsCatalog catalog, LatentDiffusionTransformer teacher,
        GuidanceDistillationOptions? options = null) => new(Context(catalog), teacher, options);

    /// <summary>
    /// Distils a fitted model's sampling into a few DDIM steps: fitted on the data the model learned, it returns a
    /// student whose every DDIM step on a grid of <see cref="StepDistillationOptions.Steps"/> timesteps lands where the
    /// teacher's guided many-step sampling lands (see <see cref="StepDistiller"/>).
    /// </summary>
    public static StepDistiller DistillSteps(this TransformsCatalog catalog, LatentDiffusionTransformer teacher, StepDistillationOptions? options = null)
        => new(Context(catalog), teacher, options);

    /// <summary>
    /// A few-step sampler for a fitted diffusion model: fitted on tuning requests (label, seed), it learns the grid of
    /// timesteps within <see cref="StepGridOptions.MaxPasses"/> network passes whose samples come closest to the
    /// model's own many-step ones, and returns the model with that sampler (see <see cref="StepGridLearner"/>).
    /// </summary>
    public static StepGridLearner LearnStepGrid(this TransformsCatalog catalog, LatentDiffusionTransformer teacher, StepGridOptions? options = null)
        => new(Context(catalog), teacher, options);

    /// <summary>
    /// One estimator that fits <paramref name="vae"/> on the images, then <paramref name="diffusion"/> on the VAE's
    /// latents; its transformer turns generation requests (label, seed) into decoded images. Fit it on the images
    /// (<c>GenerateDigits(diffusion, vae).Fit(images)</c>), not after <c>vae.Append(diffusion)</c>, which it refuses.
    /// </summary>
    public static DigitGenerator GenerateDigits(this TransformsCatalog catalog, LatentDiffusionTrainer diffusion, VaeEncoderEstimator vae,
        DigitGeneratorOptions? options = null)
    {
        Context(catalog);
        return new DigitGenerator(diffusion, vae, options);
    }

    /// <summary>
    /// One estimator that fits <paramref name="diffusion"/> on the images themselves (no VAE); its transformer turns
    /// generation requests (label, seed) into images.
    /// </summary>
    public static DigitGenerator GenerateDigits(this TransformsCatalog catalog, LatentDiffusionTrainer diffusion, DigitGeneratorOptions? options = null)
    {
        Context(catalog);
        return new DigitGenerator(diffusion, options);
    }

    /// <summary>Turns generation requests (label, seed) into images with a pixel-space diffusion model fitted or loaded before (no VAE).</summary>
    public static DigitGenerator GenerateDigits(this TransformsCatalog catalog, LatentDiffusionTransformer diffusion, DigitGeneratorOptions? options = null)
    {
        Context(catalog);
        return new DigitGenerator(diffusion, options);
    }

    /// <summary>Turns generation requests (label, seed) into decoded images, with a diffusion model and its VAE fitted or loaded before.</summary>
    public static DigitGenerator GenerateDigits(this TransformsCatalog catalog, LatentDiffusionTransformer diffusion, VaeEncoderTransformer vae,
        DigitGeneratorOptions? options = null)
    {
        Context(catalog);
        return new DigitGenerator(diffusion, vae, options);
    }

    /// <summary>The FID feature classifier; its transformer adds features, predicted label and scores, and evaluates generators.</summary>
    public static FidEvaluator FidEvaluator(this TransformsCatalog catalog, FidEvaluatorOptions? options = null)
        => new(Context(catalog), options);
}
