using System.Security.Cryptography;

namespace LatentDiffusion.IO;

/// <summary>
/// The weight file format: named tensors (a network's state, or any set) by name, element type, shape and raw
/// little-endian bytes, followed by a SHA-256 of everything before it so that a damaged file is rejected instead of
/// loaded as noise. This class reads and writes the bytes; an engine turns <see cref="WeightTensor"/> values into its
/// own tensors and checks them against the network it fills.
/// </summary>
/// <remarks>
/// *** Binary format *** int32 length L of the payload; the payload: "LDWEIGHTS" (length-prefixed), int32 version (1),
/// int32 count, then per tensor: name (length-prefixed UTF-8), int32 element type (TorchSharp's <c>ScalarType</c>
/// numbering), int32 rank, int64 per dimension, int32 byte count and the bytes; then the 32-byte SHA-256 of the payload.
/// </remarks>
public static class WeightArchive
{
    private const string Magic = "LDWEIGHTS";
    private const int Version = 1;
    private const int HashBytes = 32;

    /// <summary>The highest rank a stored tensor may declare.</summary>
    public const int MaxRank = 8;

    /// <summary>
    /// Largest archive read: 1 GiB, far above any network here; a declared length above it is refused before anything
    /// is allocated.
    /// </summary>
    public const int MaxBytes = 1 << 30;

    /// <summary>Writes <paramref name="tensors"/>, in order, as one archive.</summary>
    public static void Write(BinaryWriter writer, IReadOnlyCollection<WeightTensor> tensors)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(tensors);
        using var body = new MemoryStream();
        using (var w = new BinaryWriter(body, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            w.Write(Magic);
            w.Write(Version);
            w.Write(tensors.Count);
            foreach (var tensor in tensors)
            {
                w.Write(tensor.Name);
                w.Write(tensor.ElementType);
                w.Write(tensor.Shape.Length);
                foreach (var d in tensor.Shape) w.Write(d);
                w.Write(tensor.Bytes.Length);
                w.Write(tensor.Bytes);
            }
        }
        var payload = body.ToArray();
        writer.Write(payload.Length);
        writer.Write(payload);
        writer.Write(SHA256.HashData(payload));
    }

    /// <summary>
    /// The archive's declared length in bytes, read ahead so that a reader can check that it has room for the network
    /// it is about to build; then <see cref="Read(BinaryReader, string, int)"/> reads the rest.
    /// </summary>
    public static int ReadLength(BinaryReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        return reader.ReadInt32();
    }

    /// <summary>Reads a whole archive; <paramref name="entry"/> names it in every error.</summary>
    public static IReadOnlyList<WeightTensor> Read(BinaryReader reader, string entry) => Read(reader, entry, ReadLength(reader));

    /// <summary>
    /// Reads an archive whose length was already read by <see cref="ReadLength"/>: the checksum, the header and every
    /// tensor's name, type, shape and bytes. Names are unique; the bytes are not interpreted.
    /// </summary>
    public static IReadOnlyList<WeightTensor> Read(BinaryReader reader, string entry, int length)
    {
        ArgumentNullException.ThrowIfNull(reader);
        if (length <= 0 || length > MaxBytes) throw new InvalidDataException($"Weight entry '{entry}' declares an impossible length {length} (at most "
            + $"{MaxBytes} bytes).");
        var payload = reader.ReadBytes(length);
        var hash = reader.ReadBytes(HashBytes);
        if (payload.Length != length || !SHA256.HashData(payload).AsSpan().SequenceEqual(hash))
            throw new InvalidDataException($"Weight entry '{entry}' is truncated or corrupted (checksum mismatch).");
        using var r = new BinaryReader(new MemoryStream(payload));
        if (r.ReadString() != Magic) throw new InvalidDataException($"Weight entry '{entry}' is not a LatentDiffusion weight archive.");
        int version = r.ReadInt32();
        if (version != Version) throw new InvalidDataException($"Weight entry '{entry}' has format version {version}; this library reads version {Version}.");
        int count = r.ReadInt32();
        if (count < 0 || count > length) throw new InvalidDataException($"Weight entry '{entry}' declares {count} tensors.");
        var tensors = new List<WeightTensor>(count);
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < count; i++)
        {
            var tensor = ReadTensor(r, entry, length);
            if (!names.Add(tensor.Name)) throw new InvalidDataException($"Weight entry '{entry}' holds '{tensor.Name}' twice.");
            tensors.Add(tensor);
        }
        return tensors;
    }

    private static WeightTensor ReadTensor(BinaryReader r, string entry, int length)
    {
        string name = r.ReadString();
        int elementType = r.ReadInt32();
        int rank = r.ReadInt32();
        if (rank is < 0 or > MaxRank) throw new InvalidDataException($"Weight '{name}' in '{entry}' declares rank {rank}.");
        var shape = new long[rank];
        for (int d = 0; d < rank; d++) shape[d] = r.ReadInt64();
        int byteCount = r.ReadInt32();
        if (byteCount < 0 || byteCount > length)
            throw new InvalidDataException($"Weight '{name}' in '{entry}' declares {byteCount} bytes in an archive of {length}.");
        var bytes = r.ReadBytes(byteCount);
        if (bytes.Length != byteCount) throw new InvalidDataException($"Weight '{name}' in '{entry}' is cut short: {bytes.Length} of {byteCount} bytes.");
        return new WeightTensor(name, elementType, shape, bytes);
    }
}
