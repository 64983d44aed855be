
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace LatentDiffusion.Models.Classifier;

/// <summary>How training images are varied for the FID classifier: a fresh small affine change per image and step.</summary>
/// <param name="MaxShiftPixels">Largest shift, in pixels, along each axis.</param>
/// <param name="MaxRotationDegrees">Largest rotation either way.</param>
/// <param name="MaxScaleChange">Largest relative change of size (0.1 = 90%..110%).</param>
internal sealed record ClassifierAugmentation(double MaxShiftPixels = 2, double MaxRotationDegrees = 10, double MaxScaleChange = 0.1)
{
    /// <summary>
    /// <paramref name="images"/> [rows, channels*height*width] moved, turned and scaled per image (bilinear, zeros
    /// outside), with draws from <paramref name="generator"/> on the CPU so that every device gets the same images.
    /// </summary>
    public Tensor Apply(Tensor images, int[] shape, Generator generator)
    {
        long n = images.shape[0];
        Tensor Uniform(double max) => (rand([n], generator: generator, device: CPU) * 2 - 1) * max;
        var angle = Uniform(MaxRotationDegrees * Math.PI / 180);
        var scale = 1 + Uniform(MaxScaleChange);
        // affine_grid works in [-1, 1] coordinates: a shift of s pixels on a side of w pixels is 2 s / w.
        var shiftX = Uniform(2 * MaxShiftPixels / shape[2]);
        var shiftY = Uniform(2 * MaxShiftPixels / shape[1]);
        var (cos, sin) = (angle.cos() / scale, angle.sin() / scale);
        var theta = stack([cos, -sin, shiftX, sin, cos, shiftY], 1).view(n, 2, 3).to(images.device);
        var batch = images.view(n, shape[0], shape[1], shape[2]);
        var grid = functional.affine_grid(theta, [n, shape[0], shape[1], shape[2]], align_corners: false);
        return functional.grid_sample(batch, grid, align_corners: false).view(n, -1);
    }
}
