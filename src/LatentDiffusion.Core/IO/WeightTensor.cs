namespace LatentDiffusion.IO;

/// <summary>One stored tensor of a <see cref="WeightArchive"/>: its name, element type, shape and raw little-endian bytes.</summary>
/// <param name="Name">The tensor's name in the network's state (unique within the archive).</param>
/// <param name="ElementType">The element type, in TorchSharp's <c>ScalarType</c> numbering (6 = float32).</param>
/// <param name="Shape">The dimensions, outermost first.</param>
/// <param name="Bytes">The elements in row-major order.</param>
public sealed record WeightTensor(string Name, int ElementType, long[] Shape, byte[] Bytes);
