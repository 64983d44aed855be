using Microsoft.Extensions.Logging;
using LatentDiffusion.Models;
using LatentDiffusion.Training;
using Microsoft.ML;

namespace LatentDiffusion.MLNet;

/// <summary>The reconstruction term of the VAE loss.</summary>
public enum ReconstructionLoss
{
    /// <summary>Binary cross-entropy on pixel logits (pixels in [0,1]).</summary>
    BinaryCrossEntropy,
    /// <summary>Squared error of the sigmoid output.</summary>
    MeanSquaredError,
}

/// <summary>What the encoder transformer writes into the latent column.</summary>
public enum LatentOutput
{
    /// <summary>The posterior mean (deterministic).</summary>
    Mean,
    /// <summary>A reparameterised sample, seeded per row.</summary>
    Sample,
}

/// <summary>Options of <see cref="VaeEncoderEstimator"/>.</summary>
public sealed class VaeEncoderOptions : TrainingOptions
{
    /// <summary>Input: images as a known-size vector of Single in [0,1], channel-planar (as ExtractPixels writes them). Default "Image".</summary>
    public string ImageColumnName { get; set; } = "Image";
    /// <summary>
    /// The images' (channels, height, width); null reads it from the column's <see cref="ShapeAnnotation"/>, else takes
    /// a square one-channel image. Any sides: they are padded to a multiple of <see cref="Downsampling"/> inside.
    /// </summary>
    public int[]? ImageShape { get; set; }
    /// <summary>Output: the standardised latent (channels x height x width floats). Default "Latent".</summary>
    public string LatentColumnName { get; set; } = "Latent";
    /// <summary>Latent channels, 1..1024. Default 4.</summary>
    public int LatentChannels { get; set; } = 4;
    /// <summary>How much the latent shrinks each image side: 2 or 4. Default 4 (28x28 digits become 7x7 latents).</summary>
    public int Downsampling { get; set; } = 4;
    /// <summary>Convolution width, 2..4096. Default 64.</summary>
    public int Width { get; set; } = 64;
    /// <summary>The layers: plain convolutions (as every file before them) or residual blocks with group normalisation. Default <see cref="VaeArchitecture.Plain"/>.</summary>
    public VaeArchitecture Architecture { get; set; } = VaeArchitecture.Plain;
    /// <summary>Self-attention at the latent resolution; needs <see cref="VaeArchitecture.Residual"/>. Default false.</summary>
    public bool Attention { get; set; }
    /// <summary>
    /// The latent regularisation: a KL-weighted Gaussian posterior (default, as every file before) or vector
    /// quantisation with <see cref="CodebookSize"/> codes and <see cref="CommitmentWeight"/>. With VQ the latent column
    /// holds the latents before quantisation (diffusion runs on them, as latent diffusion does) and decoding quantises.
    /// </summary>
    public VaeRegularization Regularization { get; set; } = VaeRegularization.Kl;
    /// <summary>Codes in the VQ codebook, 2..65536. Default 256. Used with <see cref="VaeRegularization.Vq"/> only.</summary>
    public int CodebookSize { get; set; } = 256;
    /// <summary>VQ's commitment weight (beta), &gt;= 0: how strongly the encoder's outputs are pulled to their codes. Default 0.25.</summary>
    public double CommitmentWeight { get; set; } = 0.25;
    /// <summary>Weight of the KL term against the summed reconstruction loss, &gt;= 0. Default 0.05: small, so that reconstructions stay sharp; latents are standardised afterwards.</summary>
    public double KlWeight { get; set; } = 0.05;
    /// <summary>
    /// Weight of a perceptual term, &gt;= 0: per image, the squared distance between the unit-length 128-feature vectors
    /// that a small digit classifier gives the image and its reconstruction, times the pixel count / 4 (so weight 1
    /// costs one nat per pixel at the largest distance). The classifier is trained inside <c>Fit</c> on the same
    /// training images and <see cref="PerceptualLabelColumnName"/>, with another seed, and is discarded afterwards:
    /// it is never an FID instrument. Default 0 (off).
    /// </summary>
    public double PerceptualWeight { get; set; }
    /// <summary>The integer label column (0..<see cref="PerceptualClasses"/>-1) that trains the perceptual term's classifier; required when <see cref="PerceptualWeight"/> is above 0.</summary>
    public string? PerceptualLabelColumnName { get; set; }
    /// <summary>Classes of <see cref="PerceptualLabelColumnName"/>, 2..100000. Default 10.</summary>
    public int PerceptualClasses { get; set; } = 10;
    /// <summary>
    /// Weight of a patch-adversarial term, &gt;= 0: a small patch discriminator trained beside the VAE with a hinge loss, and
    /// -mean D(reconstruction) in the VAE's loss, scaled adaptively by the ratio of the reconstruction loss's and this
    /// term's gradient norms at the decoder's last layer, times this weight (the latent-diffusion autoencoders' recipe,
    /// where 0.5 is usual). The discriminator and its optimiser are in the checkpoints and are discarded after training.
    /// Default 0 (off): on 28x28 digits it was measured to cost more than it gives (docs/results.md).
    /// </summary>
    public double AdversarialWeight { get; set; }
    /// <summary>The optimiser step from which the adversarial term and its discriminator train, &gt;= 0 (a warm-up on reconstruction alone). Default 500.</summary>
    public int AdversarialStart { get; set; } = 500;
    /// <summary>Reconstruction loss. Default binary cross-entropy.</summary>
    public ReconstructionLoss Reconstruction { get; set; } = ReconstructionLoss.BinaryCrossEntropy;
    /// <summary>Training epochs, at least 1. Default 5.</summary>
    public int Epochs { get; set; } = 5;
    /// <summary>Share of rows held out for the validation loss, in [0, 1). Default 0.02.</summary>
    public double ValidationFraction { get; set; } = 0.02;
    /// <summary>Mean or sample in the latent column. Default mean.</summary>
    public LatentOutput Output { get; set; } = LatentOutput.Mean;
}

/// <summary>
/// Trains a convolutional VAE (spatial latent, KL-regularised) on an image column. The fitted
/// <see cref="VaeEncoderTransformer"/> maps images to standardised latents, records the latent shape in the column's
/// <see cref="ShapeAnnotation"/>, and owns the decoder a <see cref="DigitGenerator"/> decodes with.
/// </summary>
public sealed class VaeEncoderEstimator : IEstimator<VaeEncoderTransformer>
{
    private const string Owner = nameof(VaeEncoderOptions);
    private readonly MLContext? context;
    private readonly VaeEncoderOptions options;

    /// <summary>Creates the estimator; prefer <c>mlContext.Transforms.EncodeToLatent(...)</c>.</summary>
    public VaeEncoderEstimator(MLContext? context, VaeEncoderOptions? options = null)
    {
        this.context = context;
        this.options = options ?? new VaeEncoderOptions();
        var o = this.options;
        OptionChecks.ColumnName(o.ImageColumnName, nameof(o.ImageColumnName), Owner);
        OptionChecks.ColumnName(o.LatentColumnName, nameof(o.LatentColumnName), Owner);
        OptionChecks.InRange(o.LatentChannels, 1, VaeConfig.MaxChannels, nameof(o.LatentChannels), Owner);
        if (o.Downsampling is not (2 or 4))
            throw new ArgumentOutOfRangeException(nameof(o.Downsampling), o.Downsampling, $"{Owner}.Downsampling must be 2 or 4.");
        if (o.ImageShape is { } shape && (shape.Length != 3 || shape[0] is < 1 or > VaeConfig.MaxChannels || shape.Skip(1).Any(d => d is < 1 or > VaeConfig.MaxSide)))
            throw new ArgumentOutOfRangeException(nameof(o.ImageShape), $"[{string.Join(", ", shape)}]",
                $"{Owner}.ImageShape must be (channels, height, width) with 1..{VaeConfig.MaxChannels} channels and sides in 1..{VaeConfig.MaxSide}.");
        OptionChecks.InRange(o.Width, 2, VaeConfig.MaxWidth, nameof(o.Width), Owner);
        OptionChecks.Defined(o.Architecture, nameof(o.Architecture), Owner);
        if (o.Attention && o.Architecture != VaeArchitecture.Residual)
            throw new ArgumentException($"{Owner}.Attention needs {Owner}.Architecture = {VaeArchitecture.Residual}, got {o.Architecture}.", nameof(o.Attention));
        OptionChecks.Defined(o.Regularization, nameof(o.Regularization), Owner);
        OptionChecks.InRange(o.CodebookSize, 2, VaeConfig.MaxCodes, nameof(o.CodebookSize), Owner);
        OptionChecks.InRange(o.CommitmentWeight, 0, 1e6, nameof(o.CommitmentWeight), Owner);
        OptionChecks.InRange(o.KlWeight, 0, double.MaxValue, nameof(o.KlWeight), Owner);
        OptionChecks.Defined(o.Reconstruction, nameof(o.Reconstruction), Owner);
        OptionChecks.InRange(o.PerceptualWeight, 0, 1e6, nameof(o.PerceptualWeight), Owner);
        OptionChecks.InRange(o.PerceptualClasses, 2, 100_000, nameof(o.PerceptualClasses), Owner);
        if (o.PerceptualWeight > 0)
        {
            if (o.PerceptualLabelColumnName is null)
                throw new ArgumentException($"{Owner}.PerceptualWeight {o.PerceptualWeight} needs {Owner}.PerceptualLabelColumnName: the label column that trains the perceptual term's classifier.", nameof(o.PerceptualLabelColumnName));
            OptionChecks.ColumnName(o.PerceptualLabelColumnName, nameof(o.PerceptualLabelColumnName), Owner);
        }
        OptionChecks.InRange(o.AdversarialWeight, 0, 1e6, nameof(o.AdversarialWeight), Owner);
        OptionChecks.InRange(o.AdversarialStart, 0, int.MaxValue, nameof(o.AdversarialStart), Owner);
        OptionChecks.InRange(o.Epochs, 1, 1_000_000, nameof(o.Epochs), Owner);
        OptionChecks.InRange(o.ValidationFraction, 0, 1, nameof(o.ValidationFraction), Owner, maxExclusive: true);
        OptionChecks.Defined(o.Output, nameof(o.Output), Owner);
        o.ValidateShared(Owner);
    }

    /// <inheritdoc/>
    public VaeEncoderTransformer Fit(IDataView input)
    {
        int size = ColumnReader.RequireFloatVector(input.Schema, options.ImageColumnName, "images to encode");
        var shape = ColumnReader.ImageShape(input.Schema[options.ImageColumnName], size, options.ImageShape, $"{Owner}.{nameof(options.ImageShape)}");
        string? labelColumn = options.PerceptualWeight > 0 ? options.PerceptualLabelColumnName : null;
        if (labelColumn is not null) ColumnReader.RequireInteger(input.Schema, labelColumn, $"labels for {Owner}.PerceptualLabelColumnName");
        var (images, labels, rows) = ColumnReader.ReadAll(input, options.ImageColumnName, size, labelColumn, options.PerceptualClasses, options.CancellationToken);
        if (options.Reconstruction == ReconstructionLoss.BinaryCrossEntropy && images.Any(v => v is < 0 or > 1))
            throw new ArgumentOutOfRangeException(options.ImageColumnName, $"Column '{options.ImageColumnName}': binary cross-entropy needs pixels in [0,1], but values outside were found (min {images.Min()}, max {images.Max()}). Scale the pixels (ExtractPixels with scaleImage: 1/255f) or use MeanSquaredError.");

        var config = new VaeConfig { ImageShape = shape, LatentChannels = options.LatentChannels, Downsampling = options.Downsampling, Width = options.Width,
            Architecture = options.Architecture, Attention = options.Attention, Regularization = options.Regularization,
            CodebookSize = options.Regularization == VaeRegularization.Vq ? options.CodebookSize : 0 };
        MemoryCheck.Training(VaeModel.ParameterCount(config), nameof(options.Width), options.Width, Owner);
        using var log = new ComponentLogger(context, options.Logger, nameof(VaeEncoderEstimator));
        if (ColumnReader.PlanesLookIdentical(images, rows, shape))
            log.LogWarning("Column '{Column}' holds three identical colour planes in its first rows: grey images extracted as red, green and blue "
                + "(ExtractPixels' default, even after ConvertToGrayscale). Training a 3-channel VAE; extract one plane "
                + "(colorsToExtract: ImagePixelExtractingEstimator.ColorBits.Red) for a 1-channel model.", options.ImageColumnName);
        var settings = new VaeTrainingSettings
        {
            Epochs = options.Epochs, BinaryCrossEntropy = options.Reconstruction == ReconstructionLoss.BinaryCrossEntropy, KlWeight = options.KlWeight,
            ValidationFraction = options.ValidationFraction, PerceptualWeight = options.PerceptualWeight, PerceptualLabels = labels, PerceptualClasses = options.PerceptualClasses,
            CommitmentWeight = options.CommitmentWeight, AdversarialWeight = options.AdversarialWeight, AdversarialStart = options.AdversarialStart,
        };
        var (model, history) = VaeTraining.Fit(config, images, rows, settings, options.Run(log));
        return new VaeEncoderTransformer(model, new VaeEncoderTransformer.Settings
        {
            ImageColumn = options.ImageColumnName, LatentColumn = options.LatentColumnName, Output = options.Output, Seed = options.Seed,
            Vae = model.Config, History = [.. history.Epochs],
        });
    }

    /// <inheritdoc/>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ComponentSupport.RequireFloatVectorShape(inputSchema, options.ImageColumnName, "images to encode");
        if (options.PerceptualWeight > 0)
            ComponentSupport.RequireIntegerShape(inputSchema, options.PerceptualLabelColumnName!, $"labels for {Owner}.PerceptualLabelColumnName");
        // The latent's size is known once the images are: announced as a vector with its shape and normalised marks.
        return ComponentSupport.Append(inputSchema, [VaeEncoderTransformer.LatentColumn(options.LatentColumnName, [options.LatentChannels, 1, 1])]);
    }
}
