using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace LatentDiffusion.Models.Vae;

/// <summary>Single-head self-attention over the positions of a feature map, added to its input (used at the latent resolution).</summary>
internal sealed class VaeSelfAttention : Module<Tensor, Tensor>
{
    private readonly GroupNorm norm;
    private readonly Conv2d qkv, projection;

    public VaeSelfAttention(int channels, Device device) : base(nameof(VaeSelfAttention))
    {
        norm = VaeNorm.Create(channels, device);
        qkv = Conv2d(channels, 3 * channels, 1, device: device);
        projection = Conv2d(channels, channels, 1, device: device);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        long n = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3];
        var parts = qkv.forward(norm.forward(x)).view(n, 3, c, h * w).unbind(1);
        // [N, positions, C] queries against [N, C, positions] keys: every position attends to every other.
        var weights = functional.softmax(parts[0].transpose(1, 2).matmul(parts[1]) * (1.0 / Math.Sqrt(c)), -1);
        var attended = parts[2].matmul(weights.transpose(1, 2)).view(n, c, h, w);
        return x + projection.forward(attended);
    }
}
