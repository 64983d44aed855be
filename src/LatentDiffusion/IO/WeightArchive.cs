using System.Security.Cryptography;
using static TorchSharp.torch;

namespace LatentDiffusion.IO;

/// <summary>
/// Our weight file format: named tensors (a module's state, or any set) by name, type, shape and raw little-endian
/// bytes, followed by a SHA-256 of everything before it so that a damaged file is rejected instead of loaded as noise.
/// </summary>
/// <remarks>
/// *** Binary format *** int32 length L of the payload; the payload: "LDWEIGHTS" (length-prefixed), int32 version (1),
/// int32 count, then per tensor: name (length-prefixed UTF-8), int32 scalar type, int32 rank, int64 per dimension,
/// int32 byte count and the bytes; then the 32-byte SHA-256 of the payload.
/// </remarks>
internal static class WeightArchive
{
    private const string Magic = "LDWEIGHTS";
    private const int Version = 1;

    /// <summary>Largest archive read: 1 GiB, far above any network here; a declared length above it is refused before anything is allocated.</summary>
    public const int MaxBytes = MLNet.Persistence.MLNetInternals.MaxPayloadBytes;

    public static void Write(BinaryWriter writer, nn.Module module) => Write(writer, module.state_dict());

    public static void Write(BinaryWriter writer, IReadOnlyDictionary<string, Tensor> tensors)
    {
        using var body = new MemoryStream();
        using (var w = new BinaryWriter(body, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            w.Write(Magic);
            w.Write(Version);
            w.Write(tensors.Count);
            foreach (var (name, value) in tensors)
            {
                using var cpuValue = value.detach().cpu().contiguous();
                w.Write(name);
                w.Write((int)cpuValue.dtype);
                w.Write(cpuValue.shape.Length);
                foreach (var d in cpuValue.shape) w.Write(d);
                var bytes = cpuValue.bytes;
                w.Write(bytes.Length);
                w.Write(bytes);
            }
        }
        var payload = body.ToArray();
        writer.Write(payload.Length);
        writer.Write(payload);
        writer.Write(SHA256.HashData(payload));
    }

    /// <summary>Fills <paramref name="module"/> (built with the saved shapes) from the archive; every tensor must match by name, type and shape.</summary>
    public static void Read(BinaryReader reader, nn.Module module, string entry) => Read(reader, module.state_dict(), entry);

    /// <summary>Fills <paramref name="targets"/> from the archive: every one by name, type and shape, and nothing else.</summary>
    public static void Read(BinaryReader reader, IReadOnlyDictionary<string, Tensor> targets, string entry) => Read(reader, targets, entry, reader.ReadInt32());

    /// <summary>
    /// The archive's declared length in bytes, read ahead so that a reader can check that it has room for the network
    /// it is about to build; then <see cref="Read(BinaryReader, nn.Module, string, int)"/> reads the rest.
    /// </summary>
    public static int ReadLength(BinaryReader reader) => reader.ReadInt32();

    /// <summary>Fills <paramref name="module"/> from an archive whose length was already read by <see cref="ReadLength"/>.</summary>
    public static void Read(BinaryReader reader, nn.Module module, string entry, int length) => Read(reader, module.state_dict(), entry, length);

    private static void Read(BinaryReader reader, IReadOnlyDictionary<string, Tensor> targets, string entry, int length)
    {
        if (length <= 0 || length > MaxBytes) throw new InvalidDataException($"Weight entry '{entry}' declares an impossible length {length} (at most "
            + $"{MaxBytes} bytes).");
        var payload = reader.ReadBytes(length);
        var hash = reader.ReadBytes(32);
        if (payload.Length != length || !SHA256.HashData(payload).AsSpan().SequenceEqual(hash))
            throw new InvalidDataException($"Weight entry '{entry}' is truncated or corrupted (checksum mismatch).");
        using var r = new BinaryReader(new MemoryStream(payload));
        if (r.ReadString() != Magic) throw new InvalidDataException($"Weight entry '{entry}' is not a LatentDiffusion weight archive.");
        int version = r.ReadInt32();
        if (version != Version) throw new InvalidDataException($"Weight entry '{entry}' has format version {version}; this library reads version {Version}.");
        int count = r.ReadInt32();
        if (count != targets.Count) throw new InvalidDataException($"Weight entry '{entry}' holds {count} tensors; the model has {targets.Count}.");
        var seen = new HashSet<string>();
        using var _ = no_grad();
        for (int i = 0; i < count; i++)
        {
            string name = r.ReadString();
            var dtype = (ScalarType)r.ReadInt32();
            int rank = r.ReadInt32();
            if (rank is < 0 or > 8) throw new InvalidDataException($"Weight '{name}' in '{entry}' declares rank {rank}.");
            var shape = new long[rank];
            for (int d = 0; d < rank; d++) shape[d] = r.ReadInt64();
            if (!targets.TryGetValue(name, out var target))
                throw new InvalidDataException($"Weight entry '{entry}' holds '{name}', which the model does not have.");
            if (target.dtype != dtype || !target.shape.SequenceEqual(shape))
                throw new InvalidDataException($"Weight '{name}' in '{entry}' is {dtype}[{string.Join(",", shape)}]; the model expects "
                    + $"{target.dtype}[{string.Join(",", target.shape)}].");
            int byteCount = r.ReadInt32();
            if (byteCount != target.ElementSize * target.numel())
                throw new InvalidDataException($"Weight '{name}' in '{entry}' holds {byteCount} bytes; its shape needs {target.ElementSize * target.numel()}.");
            var bytes = r.ReadBytes(byteCount);
            using var loaded = empty(shape, dtype);
            loaded.bytes = bytes;
            if (loaded.is_floating_point() && !loaded.isfinite().all().item<bool>())
                throw new InvalidDataException($"Weight '{name}' in '{entry}' holds values that are not finite numbers (NaN or infinity); the model "
                    + $"cannot be used.");
            target.copy_(loaded);
            seen.Add(name);
        }
        var missing = targets.Keys.Where(k => !seen.Contains(k)).ToList();
        if (missing.Count > 0) throw new InvalidDataException($"Weight entry '{entry}' lacks {string.Join(", ", missing)}.");
    }
}
