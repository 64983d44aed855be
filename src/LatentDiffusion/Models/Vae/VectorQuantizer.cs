using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace LatentDiffusion.Models.Vae;

/// <summary>
/// A codebook of <c>K</c> vectors of the latent's channel count (<see cref="VaeRegularization.Vq"/>): each latent
/// position is replaced by its nearest code (Euclidean). Distances are computed in float32 whatever the weights'
/// format, so that the choice of code does not depend on bfloat16 rounding.
/// </summary>
internal sealed class VectorQuantizer : Module<Tensor, Tensor>
{
    // The field name is the weight name in saved models.
    private readonly Parameter codebook;

    public VectorQuantizer(int codes, int channels, Device device) : base(nameof(VectorQuantizer))
    {
        // Standard normal, on the scale of the encoder's outputs from the first steps on (VQ-VAE's uniform [-1/K, 1/K]
        // starts every code near the origin, and an optimiser step moves a code by about the learning rate, so most codes
        // were never chosen in short runs); codes that no latent reaches are pulled towards encoder outputs in training.
        codebook = new Parameter(empty(codes, channels, device: device));
        using (no_grad()) if (device.type != DeviceType.META) codebook.normal_();
        RegisterComponents();
    }

    public long Codes => codebook.shape[0];

    /// <summary>The codebook in float32 [K, C] (differentiable: the codebook loss trains it).</summary>
    public Tensor Codebook => codebook.to_type(float32);

    /// <summary>Latent positions [N, C, h, w] flattened to rows [N*h*w, C] (float32).</summary>
    public static Tensor Rows(Tensor latents) => latents.to_type(float32).permute(0, 2, 3, 1).reshape(-1, latents.shape[1]);

    /// <summary>The nearest code's index for each row of <paramref name="rows"/> [M, C].</summary>
    public Tensor Nearest(Tensor rows)
    {
        using var _ = no_grad();
        var book = Codebook;
        var distances = rows.square().sum(1, keepdim: true) - 2 * rows.matmul(book.t()) + book.square().sum(1).unsqueeze(0);
        return distances.argmin(1);
    }

    /// <summary>Each position's nearest code [N, C, h, w] (float32, differentiable in the codebook) and the codes' indices [N*h*w].</summary>
    public (Tensor Quantized, Tensor Indices) Quantize(Tensor latents)
    {
        long n = latents.shape[0], c = latents.shape[1], h = latents.shape[2], w = latents.shape[3];
        var indices = Nearest(Rows(latents));
        var quantized = Codebook.index_select(0, indices).view(n, h, w, c).permute(0, 3, 1, 2);
        return (quantized, indices);
    }

    /// <summary>The quantised latents (no gradient to the codebook: inference).</summary>
    public override Tensor forward(Tensor latents)
    {
        var (quantized, _) = Quantize(latents);
        return quantized.detach();
    }
}
