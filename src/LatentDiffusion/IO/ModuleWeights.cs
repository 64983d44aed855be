using static TorchSharp.torch;

namespace LatentDiffusion.IO;

/// <summary>
/// A network's tensors in and out of a <see cref="WeightArchive"/>: written from its state, and read back into a
/// network built with the saved shapes, every tensor matching by name, type and shape and holding finite numbers.
/// </summary>
internal static class ModuleWeights
{
    public static void Write(BinaryWriter writer, nn.Module module) => Write(writer, module.state_dict());

    public static void Write(BinaryWriter writer, IReadOnlyDictionary<string, Tensor> tensors) =>
        WeightArchive.Write(writer, [.. tensors.Select(p => Stored(p.Key, p.Value))]);

    private static WeightTensor Stored(string name, Tensor value)
    {
        using var cpuValue = value.detach().cpu().contiguous();
        return new WeightTensor(name, (int)cpuValue.dtype, cpuValue.shape, cpuValue.bytes.ToArray());
    }

    /// <summary>Fills <paramref name="module"/> (built with the saved shapes) from the archive; every tensor must match by name, type and shape.</summary>
    public static void Read(BinaryReader reader, nn.Module module, string entry) => Read(reader, module.state_dict(), entry);

    /// <summary>Fills <paramref name="targets"/> from the archive: every one by name, type and shape, and nothing else.</summary>
    public static void Read(BinaryReader reader, IReadOnlyDictionary<string, Tensor> targets, string entry) =>
        Fill(WeightArchive.Read(reader, entry), targets, entry);

    /// <summary>Fills <paramref name="module"/> from an archive whose length was already read by <see cref="WeightArchive.ReadLength"/>.</summary>
    public static void Read(BinaryReader reader, nn.Module module, string entry, int length) =>
        Fill(WeightArchive.Read(reader, entry, length), module.state_dict(), entry);

    private static void Fill(IReadOnlyList<WeightTensor> stored, IReadOnlyDictionary<string, Tensor> targets, string entry)
    {
        if (stored.Count != targets.Count)
            throw new InvalidDataException($"Weight entry '{entry}' holds {stored.Count} tensors; the model has {targets.Count}.");
        using var _ = no_grad();
        foreach (var weight in stored)
        {
            if (!targets.TryGetValue(weight.Name, out var target))
                throw new InvalidDataException($"Weight entry '{entry}' holds '{weight.Name}', which the model does not have.");
            Copy(weight, target, entry);
        }
    }

    private static void Copy(WeightTensor weight, Tensor target, string entry)
    {
        var dtype = (ScalarType)weight.ElementType;
        if (target.dtype != dtype || !target.shape.SequenceEqual(weight.Shape))
            throw new InvalidDataException($"Weight '{weight.Name}' in '{entry}' is {dtype}[{string.Join(",", weight.Shape)}]; the model expects "
                + $"{target.dtype}[{string.Join(",", target.shape)}].");
        if (weight.Bytes.Length != target.ElementSize * target.numel())
            throw new InvalidDataException($"Weight '{weight.Name}' in '{entry}' holds {weight.Bytes.Length} bytes; its shape needs "
                + $"{target.ElementSize * target.numel()}.");
        using var loaded = empty(weight.Shape, dtype);
        loaded.bytes = weight.Bytes;
        if (loaded.is_floating_point() && !loaded.isfinite().all().item<bool>())
            throw new InvalidDataException($"Weight '{weight.Name}' in '{entry}' holds values that are not finite numbers (NaN or infinity); the model "
                + "cannot be used.");
        target.copy_(loaded);
    }
}
