using LatentDiffusion.Diffusion;
using LatentDiffusion.MLNet.Autoencoder;
using LatentDiffusion.MLNet.Denoising;
using LatentDiffusion.MLNet.Formats;
using LatentDiffusion.MLNet.Persistence;
using LatentDiffusion.Models;
using LatentDiffusion.Models.Vae;
using Microsoft.ML;
using Microsoft.ML.Runtime;

namespace LatentDiffusion.MLNet.Generation;

/// <summary>
/// Request rows (optional label, optional seed) to images in [0,1]: a fitted diffusion model's samples decoded by the
/// VAE whose latents it learned, or its samples themselves (clipped to [0,1]) when it learned pixels. Same seed and
/// label, same image; requests stream through in batches, so any number of rows can be generated with one batch in
/// memory. The request columns, default seed and sampling settings are the diffusion model's (<see cref="Diffusion"/>).
/// </summary>
public sealed class DigitGeneratorTransformer : BatchTransformer
{
    /// <summary>What is saved besides the weights (the <c>Config.json</c> block; see <see cref="ComponentFormats"/>).</summary>
    internal sealed record Settings : RequestSettings
    {
        public Settings()
        {
        }

        /// <summary>The diffusion model's request and model settings, to which the generator adds its image column and VAE.</summary>
        public Settings(RequestSettings requests) : base(requests)
        {
        }

        public string OutputColumn { get; init; } = "GeneratedImage";
        /// <summary>The VAE that decodes the samples; null for a model that learned pixels.</summary>
        public VaeConfig? Vae { get; init; }
        /// <summary>The VAE's columns, output, seed and history (version 6); files before it get the defaults.</summary>
        public VaeEncoderTransformer.Settings? VaeEncoder { get; init; }
    }

    private const string VaeStream = "Vae.weights";
    private readonly IProgress<GenerationProgress>? progress;
    private long generated;

    internal DigitGeneratorTransformer(LatentDiffusionTransformer diffusion, VaeEncoderTransformer? vae, string outputColumn,
        IProgress<GenerationProgress>? progress = null)
    {
        OptionChecks.ColumnName(outputColumn, nameof(OutputColumnName), nameof(DigitGeneratorTransformer));
        if (vae is not null && !vae.LatentShape.SequenceEqual(diffusion.DataShape))
            throw new ArgumentException($"The diffusion model makes samples shaped [{string.Join(", ", diffusion.DataShape)}] "
                + $"but the VAE decodes latents shaped [{string.Join(", ", vae.LatentShape)}].");
        (Diffusion, Vae, OutputColumnName, this.progress) = (diffusion, vae, outputColumn, progress);
    }

    /// <summary>The diffusion model, with the request columns, default seed and sampling settings this generator uses.</summary>
    public LatentDiffusionTransformer Diffusion { get; }
    /// <summary>The VAE that decodes the samples (and encodes images to its latents); null for a model that learned pixels.</summary>
    public VaeEncoderTransformer? Vae { get; }
    /// <summary>Output image column.</summary>
    public string OutputColumnName { get; }
    /// <summary>Shape of the generated images: channels, height, width.</summary>
    public IReadOnlyList<int> ImageShape => Vae?.ImageShape ?? Diffusion.DataShape;
    /// <summary>Floats per generated image.</summary>
    public int ImageSize => Vae?.ImageSize ?? Diffusion.Model.DataSize;

    /// <summary>
    /// Writes the generator for ONNX Runtime into <paramref name="folder"/>: what
    /// <see cref="LatentDiffusionTransformer.ExportOnnx"/> writes, plus <c>decoder.onnx</c> (latents as the denoiser
    /// samples them to images in [0, 1]: the latent standardisation undone, nearest codes for a VQ VAE, the decoder, the
    /// crop and the sigmoid) when the generator decodes latents. Returns the paths written.
    /// </summary>
    public IReadOnlyList<string> ExportOnnx(string folder) =>
        Export.OnnxExport.Write(folder, Diffusion.Model, Vae?.Model, Diffusion.Sampling, Diffusion.Seed);

    /// <summary>The same models with other sampling settings (sampler, steps, guidance, batch size), checked against the model.</summary>
    public DigitGeneratorTransformer WithSampling(SamplingOptions sampling) => new(Diffusion.WithSampling(sampling), Vae, OutputColumnName, progress);

    /// <summary>
    /// The same models, reporting to <paramref name="progress"/> after each batch they generate (through
    /// <see cref="BatchTransformer.Transform"/>, a row mapper or <see cref="Generate"/>) how many images they have
    /// generated so far. Generation through Transform is lazy: the images are made as the view is read.
    /// </summary>
    public DigitGeneratorTransformer WithProgress(IProgress<GenerationProgress>? progress) => new(Diffusion, Vae, OutputColumnName, progress);

    /// <summary>Generates images directly: one per (label, seed); label -1 = unconditional. Returns rows x image size floats.</summary>
    public float[] Generate(ReadOnlySpan<int> labels, ReadOnlySpan<long> seeds)
    {
        Diffusion.CheckRequests(labels, seeds);
        var images = new float[labels.Length * ImageSize];
        int batch = Diffusion.SamplingSettings.BatchSize;
        for (int start = 0; start < labels.Length; start += batch)
        {
            int n = Math.Min(batch, labels.Length - start);
            GenerateBatch(labels.Slice(start, n).ToArray(), seeds.Slice(start, n).ToArray(), images.AsSpan(start * ImageSize, n * ImageSize));
        }
        return images;
    }

    /// <summary>
    /// The denoising trajectory for pictures: for each sampler step, the images decoded from the noisy state the step
    /// starts from (<c>Noisy</c>) and from the clean latent the denoiser predicts there (<c>Predicted</c>), each
    /// rows x image size floats; the last step's prediction is the final sample.
    /// </summary>
    public (float[] Noisy, float[] Predicted)[] Trajectory(ReadOnlySpan<int> labels, ReadOnlySpan<long> seeds)
    {
        int rows = labels.Length;
        return [.. Diffusion.Trajectory(labels, seeds).Select(s => (ToImages(s.Noisy, rows), ToImages(s.Predicted, rows)))];
    }

    private void GenerateBatch(int[] labels, long[] seeds, Span<float> destination)
    {
        // The latents stay on the model's device from the sampler to the decoder.
        using (var samples = Diffusion.Model.SampleOnDevice(labels, seeds, Diffusion.SamplingSettings))
            (Vae is not null ? Vae.Model.Decode(samples) : Clip(samples.cpu().flatten().data<float>().ToArray())).CopyTo(destination);
        progress?.Report(new GenerationProgress(Interlocked.Add(ref generated, labels.Length)));
    }

    private static float[] Clip(float[] pixels)
    {
        for (int i = 0; i < pixels.Length; i++) pixels[i] = Math.Clamp(pixels[i], 0f, 1f);
        return pixels;
    }

    /// <summary>Diffusion samples as images in [0,1]: decoded by the VAE, or clipped pixels.</summary>
    private float[] ToImages(float[] samples, int rows) => Vae is not null ? Vae.Model.Decode(samples, rows) : Clip(samples);

    /// <inheritdoc/>
    protected override BatchMapper CreateMapper() =>
        Diffusion.CreateMapper(LatentDiffusionTransformer.OutputColumn(OutputColumnName, ImageShape), (labels, seeds, output) => GenerateBatch(labels,
            seeds, output));

    /// <inheritdoc/>
    protected override void Save(ModelSaveContext ctx)
    {
        var settings = new Settings(Diffusion.SavedSettings) { OutputColumn = OutputColumnName, Vae = Vae?.Config, VaeEncoder = Vae?.SavedSettings };
        var networks = LatentDiffusionTransformer.Networks(Diffusion.Model);
        WeightStreams.Save(ctx, ComponentFormats.DigitGenerator, settings, Vae is null ? networks : [.. networks, (VaeStream, Vae.Model.Network)]);
    }

    /// <summary>A generator from a file's settings and the models read beside them.</summary>
    private static DigitGeneratorTransformer Assemble(Settings settings, (DiffusionModel Diffusion, VaeModel? Vae) models)
    {
        var (diffusion, vae) = models;
        var encoder = vae is null ? null : new VaeEncoderTransformer(vae, settings.VaeEncoder ?? new VaeEncoderTransformer.Settings());
        return new DigitGeneratorTransformer(new LatentDiffusionTransformer(diffusion, new LatentDiffusionTransformer.Settings(settings)), encoder,
            settings.OutputColumn);
    }

    private static DigitGeneratorTransformer Create(IHostEnvironment env, object ctx) => WeightStreams.Load(env, ctx, ComponentFormats.DigitGenerator,
        LegacyFormats.ReadDigitGenerator, (streams, settings, device) =>
        (
            LatentDiffusionTransformer.ReadModel(streams, settings.Model, settings.History, settings.AutoguidanceHistory, device),
            settings.Vae is { } config ? VaeEncoderTransformer.ReadVae(streams, VaeStream, config, device) : null
        ),
        (models, settings) => Assemble(settings, models), ComponentFormats.SamplerObjectSince(7));
}
