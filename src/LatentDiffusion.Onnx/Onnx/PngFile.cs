using System.Buffers.Binary;
using System.IO.Compression;

namespace LatentDiffusion.Onnx;

/// <summary>
/// Writes generated images as PNG files with nothing but the .NET runtime (no image library), so that an app with
/// only this package can look at what it made: 8-bit greyscale for one channel, RGB for three.
/// </summary>
public static class PngFile
{
    private static readonly uint[] CrcTable = Enumerable.Range(0, 256).Select(n =>
    {
        uint c = (uint)n;
        for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        return c;
    }).ToArray();

    /// <summary>
    /// Saves one image of <paramref name="shape"/> [channels (1 or 3), height, width], channel-major floats in [0, 1]
    /// (values outside are clipped), to <paramref name="path"/>, atomically.
    /// </summary>
    public static void Save(ReadOnlySpan<float> pixels, IReadOnlyList<int> shape, string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var png = Encode(pixels, shape);
        IO.AtomicFile.Write(path, stream => stream.Write(png));
    }

    /// <summary>
    /// The PNG file's bytes for one image of <paramref name="shape"/> [channels (1 or 3), height, width], channel-major
    /// floats in [0, 1] (values outside are clipped): what a web service sends.
    /// </summary>
    public static byte[] Encode(ReadOnlySpan<float> pixels, IReadOnlyList<int> shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        if (shape.Count != 3 || shape[0] is not (1 or 3) || shape[1] < 1 || shape[2] < 1)
            throw new ArgumentException($"Expected an image shape [channels (1 or 3), height, width]; got [{string.Join(", ", shape)}].", nameof(shape));
        int channels = shape[0], height = shape[1], width = shape[2];
        if (pixels.Length != channels * height * width)
            throw new ArgumentException($"An image of [{channels}, {height}, {width}] has {channels * height * width} values; got {pixels.Length}.",
                nameof(pixels));
        // Scanlines: a filter byte (0, none) then the pixels interleaved.
        var raw = new byte[height * (1 + width * channels)];
        for (int y = 0, o = 0; y < height; y++)
        {
            raw[o++] = 0;
            for (int x = 0; x < width; x++)
                for (int c = 0; c < channels; c++)
                    raw[o++] = (byte)Math.Round(Math.Clamp(pixels[(c * height + y) * width + x], 0f, 1f) * 255);
        }
        using var data = new MemoryStream();
        using (var zlib = new ZLibStream(data, CompressionLevel.Optimal, leaveOpen: true)) zlib.Write(raw);
        var header = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, width);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), height);
        header[8] = 8;                               // bits per sample
        header[9] = (byte)(channels == 1 ? 0 : 2);   // greyscale or RGB
        using var stream = new MemoryStream();
        stream.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        Chunk(stream, "IHDR", header);
        Chunk(stream, "IDAT", data.ToArray());
        Chunk(stream, "IEND", []);
        return stream.ToArray();
    }

    private static void Chunk(Stream stream, string type, byte[] payload)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, payload.Length);
        stream.Write(word);
        var typed = new byte[4 + payload.Length];
        for (int i = 0; i < 4; i++) typed[i] = (byte)type[i];
        payload.CopyTo(typed, 4);
        stream.Write(typed);
        uint crc = 0xFFFFFFFFu;
        foreach (byte b in typed) crc = CrcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
        BinaryPrimitives.WriteUInt32BigEndian(word, crc ^ 0xFFFFFFFFu);
        stream.Write(word);
    }
}
