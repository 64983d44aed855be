using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace LatentDiffusion.Models.Vae;

/// <summary>
/// The patch discriminator of the VAE's adversarial term (the latent-diffusion autoencoders' recipe, scaled to small
/// images): up to two strided 4x4 convolutions with leaky ReLU, a 3x3 convolution with group normalisation, and a 3x3
/// convolution to one logit per patch. On 28x28 digits it scores a 7x7 grid of overlapping patches. It lives only while
/// the VAE trains and is never saved with the model.
/// </summary>
internal sealed class PatchDiscriminator : Module<Tensor, Tensor>
{
    private readonly Sequential layers;
    private readonly long[] shape;

    public PatchDiscriminator(int[] imageShape, int width, Device device) : base(nameof(PatchDiscriminator))
    {
        shape = [-1, .. imageShape.Select(d => (long)d)];
        // Each halving needs a side of at least 2; images smaller than 4x4 get fewer.
        int side = Math.Min(imageShape[1], imageShape[2]), halvings = side >= 4 ? 2 : side >= 2 ? 1 : 0;
        var list = new List<(string, Module<Tensor, Tensor>)>();
        int channels = imageShape[0], next = width;
        for (int i = 0; i < halvings; i++)
        {
            list.Add(($"down{i}", Conv2d(channels, next, 4, stride: 2, padding: 1, device: device)));
            if (i > 0) list.Add(($"down{i}_norm", VaeNorm.Create(next, device)));
            list.Add(($"down{i}_act", LeakyReLU(0.2)));
            (channels, next) = (next, next * 2);
        }
        list.Add(("mid", Conv2d(channels, next, 3, padding: 1, device: device)));
        list.Add(("mid_norm", VaeNorm.Create(next, device)));
        list.Add(("mid_act", LeakyReLU(0.2)));
        list.Add(("out", Conv2d(next, 1, 3, padding: 1, device: device)));
        layers = Sequential(list);
        RegisterComponents();
    }

    /// <summary>Patch logits [N, 1, h, w] for flat float32 images [N, image size]: above 0 says "real".</summary>
    public override Tensor forward(Tensor images) => layers.forward(images.view(shape));

    /// <summary>
    /// The hinge loss that trains it: 0 when every real patch scores at least 1 and every reconstructed one at most -1;
    /// 1 when it cannot tell.
    /// </summary>
    public static Tensor HingeLoss(Tensor realLogits, Tensor fakeLogits) =>
        0.5 * (functional.relu(1 - realLogits).mean() + functional.relu(1 + fakeLogits).mean());
}
