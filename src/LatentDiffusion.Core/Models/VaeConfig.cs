using System.Text.Json.Serialization;

namespace LatentDiffusion.Models;

/// <summary>The layers of a VAE.</summary>
public enum VaeArchitecture
{
    /// <summary>Strided convolutions, transposed convolutions and SiLU, no normalisation (every file saved before residual VAEs).</summary>
    Plain,
    /// <summary>
    /// The latent-diffusion autoencoder: residual blocks with group normalisation below the full resolution, optional
    /// self-attention at the latent resolution.
    /// </summary>
    Residual,
}

/// <summary>How a VAE's latent space is regularised.</summary>
public enum VaeRegularization
{
    /// <summary>A Gaussian posterior with a weighted KL divergence to N(0, I) (every file saved before VQ).</summary>
    Kl,
    /// <summary>
    /// Vector quantisation: a codebook of <see cref="VaeConfig.CodebookSize"/> vectors, each latent position replaced by
    /// its nearest code before decoding. Diffusion runs on the latents before quantisation, as latent diffusion does;
    /// the decoder quantises what it is given.
    /// </summary>
    Vq,
}

/// <summary>
/// Everything needed to rebuild a trained VAE before its weights are loaded: the image and latent shapes, the width,
/// and the per-channel standardisation of its latents measured after training.
/// </summary>
public sealed record VaeConfig
{
    /// <summary>
    /// Image shape (channels, height, width), any sides: the network pads them up to a multiple of
    /// <see cref="Downsampling"/> and crops its output back.
    /// </summary>
    public int[] ImageShape { get; init; } = [1, 28, 28];

    /// <summary>Latent channels.</summary>
    public int LatentChannels { get; init; } = 4;

    /// <summary>How much each (padded) image side shrinks in the latent: 2 or 4.</summary>
    public int Downsampling { get; init; } = 4;

    /// <summary>Convolution width.</summary>
    public int Width { get; init; } = 64;

    /// <summary>The layers; files written before this setting existed are <see cref="VaeArchitecture.Plain"/>.</summary>
    public VaeArchitecture Architecture { get; init; } = VaeArchitecture.Plain;

    /// <summary>Self-attention between the two residual blocks at the latent resolution (<see cref="VaeArchitecture.Residual"/> only).</summary>
    public bool Attention { get; init; }

    /// <summary>The latent regularisation; files written before this setting existed are <see cref="VaeRegularization.Kl"/>.</summary>
    public VaeRegularization Regularization { get; init; } = VaeRegularization.Kl;

    /// <summary>Codes in the codebook (<see cref="VaeRegularization.Vq"/> only, 2..65536; 0 otherwise).</summary>
    public int CodebookSize { get; init; }

    /// <summary>Codes that at least one training image's latent uses, measured after training (VQ only).</summary>
    public int CodesUsed { get; init; }

    /// <summary>
    /// The perplexity of code use over the training images (exp of the entropy; K when all K codes are used equally),
    /// measured after training (VQ only).
    /// </summary>
    public double CodebookPerplexity { get; init; }

    /// <summary>Channels the encoder outputs: mean and log-variance for KL, the latent itself for VQ.</summary>
    [JsonIgnore]
    public int EncoderChannels => Regularization == VaeRegularization.Vq ? LatentChannels : 2 * LatentChannels;

    /// <summary>Per-channel mean of the training set's latents (subtracted before diffusion); empty before training.</summary>
    public float[] LatentShift { get; init; } = [];

    /// <summary>Per-channel standard deviation of the training set's latents (divided out before diffusion); empty before training.</summary>
    public float[] LatentScale { get; init; } = [];

    /// <summary>Latent shape (channels, height, width): each side divided by <see cref="Downsampling"/>, rounded up.</summary>
    [JsonIgnore]
    public int[] LatentShape => [LatentChannels, Up(ImageShape[1]) / Downsampling, Up(ImageShape[2]) / Downsampling];

    /// <summary>Image shape after padding each side up to a multiple of <see cref="Downsampling"/>.</summary>
    [JsonIgnore]
    public int[] PaddedShape => [ImageShape[0], Up(ImageShape[1]), Up(ImageShape[2])];

    private int Up(int side) => (side + Downsampling - 1) / Downsampling * Downsampling;

    /// <summary>Floats per image.</summary>
    [JsonIgnore]
    public int ImageSize => ImageShape.Aggregate(1, (a, b) => a * b);

    /// <summary>Floats per latent.</summary>
    [JsonIgnore]
    public int LatentSize => LatentShape.Aggregate(1, (a, b) => a * b);

    /// <summary>Largest accepted side, channel count and width.</summary>
    public const int MaxSide = 4096, MaxChannels = 1024, MaxWidth = 4096, MaxCodes = 65536;

    /// <summary>
    /// Checks the config before anything is allocated: the one owner of the VAE's architecture bounds, for options
    /// (<paramref name="source"/> "VaeEncoderOptions") and files ("the VAE in 'Config.json'") alike.
    /// </summary>
    public void Validate(string source)
    {
        if (ImageShape is not { Length: 3 } || ImageShape[0] is < 1 or > MaxChannels || ImageShape[1] is < 1 or > MaxSide || ImageShape[2] is < 1 or > MaxSide)
            throw new ArgumentOutOfRangeException(nameof(ImageShape), $"[{string.Join(", ", ImageShape ?? [])}]",
                $"{OptionChecks.Subject(nameof(ImageShape), source)} must be (channels, height, width) with 1..{MaxChannels} channels "
                + $"and sides in 1..{MaxSide}, got [{string.Join(", ", ImageShape ?? [])}].");
        if (Downsampling is not (2 or 4))
            throw new ArgumentOutOfRangeException(nameof(Downsampling), Downsampling,
                $"{OptionChecks.Subject(nameof(Downsampling), source)} must be 2 or 4 (how much each image side shrinks), got {Downsampling}.");
        OptionChecks.InRange(LatentChannels, 1, MaxChannels, nameof(LatentChannels), source);
        OptionChecks.InRange(Width, 2, MaxWidth, nameof(Width), source);
        OptionChecks.Defined(Architecture, nameof(Architecture), source);
        if (Attention && Architecture != VaeArchitecture.Residual)
            throw new ArgumentOutOfRangeException(nameof(Attention), Attention,
                $"{OptionChecks.Subject(nameof(Attention), source)} must not be set without Architecture = {VaeArchitecture.Residual} "
                + $"(only it has self-attention), got {Architecture}.");
        OptionChecks.Defined(Regularization, nameof(Regularization), source);
        if (Regularization == VaeRegularization.Vq)
            OptionChecks.InRange(CodebookSize, 2, MaxCodes, nameof(CodebookSize), source, "the codebook of a VQ VAE");
        else if (CodebookSize != 0)
            throw new ArgumentOutOfRangeException(nameof(CodebookSize), CodebookSize,
                $"{OptionChecks.Subject(nameof(CodebookSize), source)} must be 0 with {Regularization} (only VQ has a codebook), got {CodebookSize}.");
        if (LatentShift.Length != LatentScale.Length || LatentShift.Length is not 0 && LatentShift.Length != LatentChannels)
            throw new ArgumentOutOfRangeException(nameof(LatentShift), LatentShift.Length,
                $"The VAE of {source} needs one latent shift and scale per channel ({LatentChannels}), or none.");
        if (LatentShift.Any(v => !float.IsFinite(v)) || LatentScale.Any(v => !float.IsFinite(v) || v <= 0))
            throw new ArgumentOutOfRangeException(nameof(LatentScale),
                $"The VAE of {source} has a latent shift or scale that is not a finite number (scales must be positive).");
    }
}
