using LatentDiffusion.MLNet.Estimators;
using LatentDiffusion.Models;
using LatentDiffusion.Models.Vae;

namespace LatentDiffusion.MLNet.Autoencoder;

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
    /// <summary>
    /// The layers: plain convolutions (as every file before them) or residual blocks with group normalisation. Default
    /// <see cref="VaeArchitecture.Plain"/>.
    /// </summary>
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
    /// <summary>
    /// Weight of the KL term against the summed reconstruction loss, &gt;= 0. Default 0.05: small, so that
    /// reconstructions stay sharp; latents are standardised afterwards.
    /// </summary>
    public double KlWeight { get; set; } = 0.05;
    /// <summary>
    /// Weight of a perceptual term, &gt;= 0: per image, the squared distance between the unit-length 128-feature vectors
    /// that a small digit classifier gives the image and its reconstruction, times the pixel count / 4 (so weight 1
    /// costs one nat per pixel at the largest distance). The classifier is trained inside <c>Fit</c> on the same
    /// training images and <see cref="PerceptualLabelColumnName"/>, with another seed, and is discarded afterwards:
    /// it is never an FID instrument. Default 0 (off).
    /// </summary>
    public double PerceptualWeight { get; set; }
    /// <summary>
    /// The integer label column (0..<see cref="PerceptualClasses"/>-1) that trains the perceptual term's classifier;
    /// required when <see cref="PerceptualWeight"/> is above 0.
    /// </summary>
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
    /// <summary>
    /// The optimiser step from which the adversarial term and its discriminator train, &gt;= 0 (a warm-up on
    /// reconstruction alone). Default 500.
    /// </summary>
    public int AdversarialStart { get; set; } = 500;
    /// <summary>Reconstruction loss. Default binary cross-entropy.</summary>
    public ReconstructionLoss Reconstruction { get; set; } = ReconstructionLoss.BinaryCrossEntropy;
    /// <summary>Training epochs, at least 1. Default 5.</summary>
    public int Epochs { get; set; } = 5;
    /// <summary>Share of rows held out for the validation loss, in [0, 1). Default 0.02.</summary>
    public double ValidationFraction { get; set; } = 0.02;
    /// <summary>Mean or sample in the latent column. Default mean.</summary>
    public LatentOutput Output { get; set; } = LatentOutput.Mean;

    /// <summary>Checks every option on its own; the VAE's architecture bounds are its config's (<see cref="VaeConfig.Validate"/>).</summary>
    internal override void Validate()
    {
        const string Owner = nameof(VaeEncoderOptions);
        OptionChecks.ColumnName(ImageColumnName, nameof(ImageColumnName), Owner);
        OptionChecks.ColumnName(LatentColumnName, nameof(LatentColumnName), Owner);
        // The architecture, on the given image shape or a stand-in one until the column gives it.
        ToVaeConfig(ImageShape ?? [1, 28, 28]).Validate(Owner);
        OptionChecks.InRange(CommitmentWeight, 0, 1e6, nameof(CommitmentWeight), Owner);
        OptionChecks.InRange(KlWeight, 0, double.MaxValue, nameof(KlWeight), Owner);
        OptionChecks.Defined(Reconstruction, nameof(Reconstruction), Owner);
        OptionChecks.InRange(PerceptualWeight, 0, 1e6, nameof(PerceptualWeight), Owner);
        OptionChecks.InRange(PerceptualClasses, 2, 100_000, nameof(PerceptualClasses), Owner);
        if (PerceptualWeight > 0)
        {
            if (PerceptualLabelColumnName is null)
                throw new ArgumentException($"{Owner}.PerceptualWeight {PerceptualWeight} needs {Owner}.PerceptualLabelColumnName: "
                    + "the label column that trains the perceptual term's classifier.", nameof(PerceptualLabelColumnName));
            OptionChecks.ColumnName(PerceptualLabelColumnName, nameof(PerceptualLabelColumnName), Owner);
        }
        OptionChecks.InRange(AdversarialWeight, 0, 1e6, nameof(AdversarialWeight), Owner);
        OptionChecks.InRange(AdversarialStart, 0, int.MaxValue, nameof(AdversarialStart), Owner);
        OptionChecks.InRange(Epochs, 1, 1_000_000, nameof(Epochs), Owner);
        OptionChecks.InRange(ValidationFraction, 0, 1, nameof(ValidationFraction), Owner, maxExclusive: true);
        OptionChecks.Defined(Output, nameof(Output), Owner);
        ValidateShared(Owner);
    }

    /// <summary>How the VAE these options describe is trained (the loss terms and their weights).</summary>
    internal VaeTrainingSettings ToTrainingSettings() => new()
    {
        Epochs = Epochs, BinaryCrossEntropy = Reconstruction == ReconstructionLoss.BinaryCrossEntropy, KlWeight = KlWeight,
        ValidationFraction = ValidationFraction, PerceptualWeight = PerceptualWeight, PerceptualClasses = PerceptualClasses,
        CommitmentWeight = CommitmentWeight, AdversarialWeight = AdversarialWeight, AdversarialStart = AdversarialStart,
    };

    /// <summary>The VAE these options describe, for images shaped <paramref name="imageShape"/>.</summary>
    internal VaeConfig ToVaeConfig(int[] imageShape) => new()
    {
        ImageShape = imageShape, LatentChannels = LatentChannels, Downsampling = Downsampling, Width = Width, Architecture = Architecture,
        Attention = Attention, Regularization = Regularization, CodebookSize = Regularization == VaeRegularization.Vq ? CodebookSize : 0,
    };
}
