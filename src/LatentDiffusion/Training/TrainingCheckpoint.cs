using System.Security.Cryptography;
using System.Text.Json;
using LatentDiffusion.IO;
using static TorchSharp.torch;

namespace LatentDiffusion.Training;

/// <summary>
/// A training checkpoint file: the loop's position and every tensor its future depends on (weights, float32 masters,
/// optimiser state, weight average, the random generators' states, the epoch's shuffle). Written atomically with a
/// SHA-256, so a file is either the whole checkpoint or refused.
/// </summary>
/// <remarks>
/// *** Binary format *** "LDCHECKPOINT" (length-prefixed), int32 version (2; 1 had the run's identity as flat
/// fields of the position rather than its <c>run</c> object), the position as UTF-8 JSON
/// (length-prefixed bytes), int32 count of named blobs, each a name and length-prefixed bytes (weight archives, the
/// optimiser's own state format, generator states), then the SHA-256 of everything before it.
/// </remarks>
internal static class TrainingCheckpoint
{
    private const string Magic = "LDCHECKPOINT";
    private const int Version = 2;
    private const int MaxBytes = int.MaxValue - 64;

    public static void Write(string path, LoopPosition position, IReadOnlyDictionary<string, Action<BinaryWriter>> blobs)
    {
        using var body = new MemoryStream();
        using (var w = new BinaryWriter(body, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            w.Write(Magic);
            w.Write(Version);
            var json = JsonSerializer.SerializeToUtf8Bytes(position, Json);
            w.Write(json.Length);
            w.Write(json);
            w.Write(blobs.Count);
            foreach (var (name, write) in blobs)
            {
                using var blob = new MemoryStream();
                using (var bw = new BinaryWriter(blob, System.Text.Encoding.UTF8, leaveOpen: true)) write(bw);
                w.Write(name);
                w.Write((int)blob.Length);
                w.Write(blob.GetBuffer(), 0, (int)blob.Length);
            }
        }
        var hash = SHA256.HashData(body.GetBuffer().AsSpan(0, (int)body.Length));
        AtomicFile.Write(path, s =>
        {
            s.Write(body.GetBuffer(), 0, (int)body.Length);
            s.Write(hash);
        });
    }

    public static (LoopPosition Position, Dictionary<string, byte[]> Blobs) Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < 32 || bytes.Length > MaxBytes) throw new InvalidDataException($"Checkpoint '{path}' is {bytes.Length} bytes long: not a "
            + $"checkpoint of this library.");
        var body = bytes.AsSpan(0, bytes.Length - 32);
        if (!SHA256.HashData(body).AsSpan().SequenceEqual(bytes.AsSpan(bytes.Length - 32)))
            throw new InvalidDataException($"Checkpoint '{path}' is truncated or corrupted (checksum mismatch).");
        using var r = new BinaryReader(new MemoryStream(bytes, 0, bytes.Length - 32));
        if (r.ReadString() != Magic) throw new InvalidDataException($"'{path}' is not a LatentDiffusion training checkpoint.");
        int version = r.ReadInt32();
        if (version != Version) throw new InvalidDataException($"Checkpoint '{path}' has format version {version}; this library reads version {Version}.");
        var position = JsonSerializer.Deserialize<LoopPosition>(r.ReadBytes(r.ReadInt32()), Json)
            ?? throw new InvalidDataException($"Checkpoint '{path}' has no position.");
        int count = r.ReadInt32();
        var blobs = new Dictionary<string, byte[]>();
        for (int i = 0; i < count; i++)
        {
            string name = r.ReadString();
            blobs[name] = r.ReadBytes(r.ReadInt32());
        }
        return (position, blobs);
    }

    /// <summary>A tensor's raw bytes (generator states, shuffles), with its element count so a reader can check it.</summary>
    public static void WriteTensor(BinaryWriter w, Tensor t)
    {
        using var cpu = t.detach().cpu().contiguous();
        w.Write((int)cpu.dtype);
        w.Write(cpu.numel());
        var bytes = cpu.bytes;
        w.Write(bytes.Length);
        w.Write(bytes);
    }

    public static Tensor ReadTensor(byte[] blob, string what)
    {
        using var r = new BinaryReader(new MemoryStream(blob));
        var dtype = (ScalarType)r.ReadInt32();
        long count = r.ReadInt64();
        var bytes = r.ReadBytes(r.ReadInt32());
        var t = empty([bytes.Length == count * ElementSize(dtype) ? count : throw new InvalidDataException($"The checkpoint's {what} is damaged.")],
            dtype, device: CPU);
        t.bytes = bytes;
        return t;

        static long ElementSize(ScalarType dtype)
        {
            using var probe = empty([0], dtype, device: CPU);
            return probe.ElementSize;
        }
    }

    private static readonly JsonSerializerOptions Json = new()
    {
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() },
    };
}
