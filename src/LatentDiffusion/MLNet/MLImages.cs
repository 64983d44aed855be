using Microsoft.ML.Data;

namespace LatentDiffusion.MLNet;

/// <summary>
/// Generated images as ML.NET's <see cref="MLImage"/>, and back. The vectors are channel-planar (channels, height,
/// width) floats in [0,1], the layout <c>ExtractPixels(..., scaleImage: 1f / 255)</c> produces and our components write.
/// </summary>
/// <remarks>
/// Why this exists: ML.NET 5.0.1's <c>ConvertToImage</c> multiplies by its <c>scaleImage</c> (pixel = value x scale
/// + offset), the reverse of <c>ExtractPixels</c>, whose scale maps bytes to values; passing ExtractPixels' 1/255 makes
/// every pixel 0. With <c>scaleImage: 255f</c> the colours come out right, but its images have alpha 0 whatever
/// <c>defaultAlpha</c> says (checked here), so they save as fully transparent PNGs. These helpers write opaque images.
/// </remarks>
public static class MLImages
{
    /// <summary>How far outside [0,1] a pixel may stray (rounding) and still be drawn, clamped; further is refused.</summary>
    public const float Tolerance = 1e-3f;

    /// <summary>
    /// An opaque image from channel-planar floats in [0,1]: 1 channel (grey) or 3 (red, green, blue). Values within
    /// <see cref="Tolerance"/> of the range are clamped into it; NaN, infinities and values further out are refused.
    /// </summary>
    public static MLImage FromPixels(ReadOnlySpan<float> pixels, int channels, int height, int width)
    {
        if (channels is not (1 or 3))
            throw new ArgumentOutOfRangeException(nameof(channels), channels, "An image has 1 (grey) or 3 (red, green, blue) channels.");
        if (height < 1)
            throw new ArgumentOutOfRangeException(nameof(height), height, $"The image height must be at least 1, got {height}.");
        if (width < 1)
            throw new ArgumentOutOfRangeException(nameof(width), width, $"The image width must be at least 1, got {width}.");
        // Four bytes a pixel in one array.
        if ((long)height * width > Array.MaxLength / 4)
            throw new ArgumentOutOfRangeException(nameof(height), $"{height} x {width}",
                $"An image of {height} x {width} pixels is larger than one image can be here ({Array.MaxLength / 4:N0} pixels).");
        int plane = height * width;
        if (pixels.Length != channels * plane)
            throw new ArgumentException($"Expected {channels} x {height} x {width} = {channels * plane} values, got {pixels.Length}.", nameof(pixels));
        for (int i = 0; i < pixels.Length; i++)
            if (!(pixels[i] >= -Tolerance && pixels[i] <= 1 + Tolerance))
                throw new ArgumentOutOfRangeException(nameof(pixels), pixels[i], $"Pixel value {i} is {pixels[i]}; expected a number in [0, 1].");
        var bgra = new byte[plane * 4];
        for (int p = 0; p < plane; p++)
        {
            for (int c = 0; c < 3; c++)
                bgra[4 * p + 2 - c] = (byte)Math.Clamp(MathF.Round(pixels[(channels == 1 ? 0 : c) * plane + p] * 255f), 0, 255);
            bgra[4 * p + 3] = 255;
        }
        return MLImage.CreateFromPixels(width, height, MLPixelFormat.Bgra32, bgra);
    }

    /// <summary>Channel-planar floats in [0,1] of an image: 1 channel (the mean of red, green and blue) or 3 (red, green, blue).</summary>
    public static float[] ToPixels(MLImage image, int channels)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (channels is not (1 or 3))
            throw new ArgumentOutOfRangeException(nameof(channels), channels, "An image has 1 (grey) or 3 (red, green, blue) channels.");
        var bytes = image.Pixels;
        int plane = image.Width * image.Height;
        var (r, g, b) = image.PixelFormat switch
        {
            MLPixelFormat.Bgra32 => (2, 1, 0),
            MLPixelFormat.Rgba32 => (0, 1, 2),
            _ => throw new ArgumentException($"Images in {image.PixelFormat} are not supported; expected Bgra32 or Rgba32.", nameof(image)),
        };
        var result = new float[channels * plane];
        for (int p = 0; p < plane; p++)
        {
            if (channels == 1) result[p] = (bytes[4 * p + r] + bytes[4 * p + g] + bytes[4 * p + b]) / (3f * 255f);
            else
            {
                result[p] = bytes[4 * p + r] / 255f;
                result[plane + p] = bytes[4 * p + g] / 255f;
                result[2 * plane + p] = bytes[4 * p + b] / 255f;
            }
        }
        return result;
    }
}
