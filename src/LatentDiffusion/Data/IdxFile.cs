using System.Buffers.Binary;

namespace LatentDiffusion.Data;

/// <summary>Reads the IDX format of the MNIST files (big-endian header: magic, dimensions, then unsigned bytes).</summary>
public static class IdxFile
{
    private const int ImagesMagic = 0x00000803; // ubyte, 3 dimensions
    private const int LabelsMagic = 0x00000801; // ubyte, 1 dimension

    /// <summary>Reads an image file; returns the pixels row-major and the count, rows and columns.</summary>
    public static (byte[] Pixels, int Count, int Rows, int Columns) ReadImages(string path)
    {
        byte[] data = File.ReadAllBytes(path);
        int[] dims = ReadHeader(path, data, ImagesMagic, 3);
        long expected = 16L + (long)dims[0] * dims[1] * dims[2];
        CheckLength(path, data, expected);
        return (data.AsSpan(16).ToArray(), dims[0], dims[1], dims[2]);
    }

    /// <summary>Reads a label file.</summary>
    public static byte[] ReadLabels(string path)
    {
        byte[] data = File.ReadAllBytes(path);
        int[] dims = ReadHeader(path, data, LabelsMagic, 1);
        CheckLength(path, data, 8L + dims[0]);
        return data.AsSpan(8).ToArray();
    }

    private static int[] ReadHeader(string path, byte[] data, int magic, int rank)
    {
        int headerLength = 4 + 4 * rank;
        if (data.Length < headerLength)
            throw new InvalidDataException($"IDX file '{path}' is truncated: {data.Length} bytes, shorter than its {headerLength}-byte header.");
        int actualMagic = BinaryPrimitives.ReadInt32BigEndian(data);
        if (actualMagic != magic)
            throw new InvalidDataException($"IDX file '{path}' has magic number 0x{actualMagic:X8}; expected 0x{magic:X8} (unsigned bytes, "
                + $"{rank} dimension(s)).");
        var dims = new int[rank];
        for (int i = 0; i < rank; i++)
        {
            dims[i] = BinaryPrimitives.ReadInt32BigEndian(data.AsSpan(4 + 4 * i));
            if (dims[i] <= 0)
                throw new InvalidDataException($"IDX file '{path}' has dimension {i} of size {dims[i]}; expected a positive size.");
        }
        return dims;
    }

    private static void CheckLength(string path, byte[] data, long expected)
    {
        if (data.Length != expected)
            throw new InvalidDataException(data.Length < expected
                ? $"IDX file '{path}' is truncated: {data.Length} bytes, its header announces {expected}."
                : $"IDX file '{path}' has {data.Length - expected} trailing bytes beyond the {expected} its header announces.");
    }
}
