using System.Security.Cryptography;
using TorchSharp;
using static TorchSharp.torch;

namespace LatentDiffusion.IO;

/// <summary>
/// Our weight file format: every tensor of a module's state by name, shape and raw little-endian bytes, followed by a
/// SHA-256 of everything before it so that a damaged file is rejected instead of loaded as noise.
/// </summary>
internal static class WeightArchive
{
    private const string Magic = "LDWEIGHTS";
    private const int Version = 1;

    public static void Write(BinaryWriter writer, nn.Module module)
    {
        using var body = new MemoryStream();
        using (var w = new BinaryWriter(body, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            w.Write(Magic);
            w.Write(Version);
            var state = module.state_dict();
            w.Write(state.Count);
            foreach (var (name, value) in state)
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
    public static void Read(BinaryReader reader, nn.Module module, string entry)
    {
        int length = reader.ReadInt32();
        if (length <= 0 || length > 1 << 30) throw new InvalidDataException($"Weight entry '{entry}' declares an impossible length {length}.");
        var payload = reader.ReadBytes(length);
        var hash = reader.ReadBytes(32);
        if (payload.Length != length || !SHA256.HashData(payload).AsSpan().SequenceEqual(hash))
            throw new InvalidDataException($"Weight entry '{entry}' is truncated or corrupted (checksum mismatch).");
        using var r = new BinaryReader(new MemoryStream(payload));
        if (r.ReadString() != Magic) throw new InvalidDataException($"Weight entry '{entry}' is not a LatentDiffusion weight archive.");
        int version = r.ReadInt32();
        if (version != Version) throw new InvalidDataException($"Weight entry '{entry}' has format version {version}; this library reads version {Version}.");
        var state = module.state_dict();
        int count = r.ReadInt32();
        var seen = new HashSet<string>();
        using var _ = no_grad();
        for (int i = 0; i < count; i++)
        {
            string name = r.ReadString();
            var dtype = (ScalarType)r.ReadInt32();
            int rank = r.ReadInt32();
            var shape = new long[rank];
            for (int d = 0; d < rank; d++) shape[d] = r.ReadInt64();
            var bytes = r.ReadBytes(r.ReadInt32());
            if (!state.TryGetValue(name, out var target))
                throw new InvalidDataException($"Weight entry '{entry}' holds '{name}', which the model does not have.");
            if (target.dtype != dtype || !target.shape.SequenceEqual(shape))
                throw new InvalidDataException($"Weight '{name}' in '{entry}' is {dtype}[{string.Join(",", shape)}]; the model expects {target.dtype}[{string.Join(",", target.shape)}].");
            using var loaded = empty(shape, dtype);
            loaded.bytes = bytes;
            target.copy_(loaded);
            seen.Add(name);
        }
        var missing = state.Keys.Where(k => !seen.Contains(k)).ToList();
        if (missing.Count > 0) throw new InvalidDataException($"Weight entry '{entry}' lacks {string.Join(", ", missing)}.");
    }
}
