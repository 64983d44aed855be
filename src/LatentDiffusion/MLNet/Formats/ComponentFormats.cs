using LatentDiffusion.MLNet.Autoencoder;
using LatentDiffusion.MLNet.Denoising;
using LatentDiffusion.MLNet.Evaluation;
using LatentDiffusion.MLNet.Generation;
using LatentDiffusion.MLNet.Persistence;

namespace LatentDiffusion.MLNet.Formats;

/// <summary>
/// The model-file formats of our four transformers, in one place.
/// </summary>
/// <remarks>
/// <para>*** Binary format *** (every component, current versions)</para>
/// <para>
/// ML.NET's model header (the component's model signature, format version, oldest version that can read it, and
/// loader signature), then in the component's <c>Model.key</c> stream: an int32 count of named streams followed by
/// their names (length-prefixed UTF-8). The named streams sit beside it in the zip:
/// </para>
/// <list type="bullet">
/// <item><c>Config.json</c>: UTF-8 JSON, camelCase names, enums as names. The component's column names, seed and
/// settings, the configs that rebuild its networks (kind, shapes, widths, classes, schedule, objective, latent
/// standardisation), and its training history. A setting added later is a new field with a default; readers fill
/// missing fields with their defaults.</item>
/// <item><c>*.weights</c>, one per network: a <see cref="IO.WeightArchive"/> (every tensor of the network's state by
/// name, type, shape and raw bytes, then a SHA-256 of all of it).</item>
/// </list>
/// <para>Version history:</para>
/// <list type="bullet">
/// <item>VAE encoder (LDVAEENC). 1: Settings.bin (binary columns, output, seed, history) and Vae.weights (binary
/// shape header, then the weight archive). 2: Config.json + Vae.weights.</item>
/// <item>Latent diffusion (LDDIFFUS). 1: Settings.bin (columns, seed, sampler settings, history) and
/// Denoiser.weights (schedule, objective, shape, width and classes, then the archive). 2: + Guidance.bin (guidance
/// band). 3: + Precision.bin (sampling precision). 4: + Autoguidance.bin (autoguidance scale and band) and, when a
/// weak denoiser was trained, Guide.weights (its width, archive and history). 5: Config.json + Denoiser.weights +
/// Autoguidance.weights (when trained). 6: the sampling settings' sampler is an object holding its own settings
/// (<c>{"name": "UniPc", "steps": 20, ...}</c>) instead of a name beside a flat list of every sampler's settings; a
/// version-5 block is rewritten to it on reading (<see cref="IO.SamplingJsonMigration"/>).</item>
/// <item>Digit generator (LDDIGGEN). 1 to 4: as latent diffusion, plus Vae.weights in the VAE's version-1 form.
/// 5: Config.json + Denoiser.weights + Autoguidance.weights (when trained) + Vae.weights. 6: the settings gain a
/// <c>vaeEncoder</c> block (the VAE's columns, output, seed and history, as its own file holds them), so that a
/// loaded generator's VAE encodes from the columns it was trained on; a version-5 file gets the defaults. 7: the sampler
/// as an object, as latent diffusion's version 6.</item>
/// <item>FID evaluator (LDFIDEVL). 1: Settings.bin (side, classes, columns, history) and Classifier.weights (the
/// archive). 2: Config.json + Classifier.weights. 3: the classifier config gains its network kind (Small, the reference MNIST
/// network; Normalized, the batch-normalised default); a file without one (version 2) reads as Small, the network
/// it was trained with, so its figures do not move.</item>
/// </list>
/// </remarks>
internal static class ComponentFormats
{
    public static readonly ComponentFormat VaeEncoder = new("LatDiffVaeEncoder", "LDVAEENC", 2, typeof(VaeEncoderTransformer), 1, 2);
    public static readonly ComponentFormat LatentDiffusion = new("LatDiffDenoiser", "LDDIFFUS", 6, typeof(LatentDiffusionTransformer), 1, 5);
    public static readonly ComponentFormat DigitGenerator = new("LatDiffDigitGenerator", "LDDIGGEN", 7, typeof(DigitGeneratorTransformer), 1, 5);
    public static readonly ComponentFormat FidEvaluator = new("LatDiffFidEvaluator", "LDFIDEVL", 3, typeof(FidEvaluatorTransformer), 1, 2);

    public static readonly ComponentFormat[] All = [VaeEncoder, LatentDiffusion, DigitGenerator, FidEvaluator];

    /// <summary>Rewrites the sampling block of a latent-diffusion (before 6) or generator (before 7) settings block to today's layout.</summary>
    public static Action<System.Text.Json.Nodes.JsonObject, uint> SamplerObjectSince(uint version) => (block, written) =>
    {
        if (written < version && block["sampling"] is System.Text.Json.Nodes.JsonObject sampling) IO.SamplingJsonMigration.ToSamplerObject(sampling);
    };
}
