
using static TorchSharp.torch;

namespace LatentDiffusion.Runtime;

/// <summary>
/// A CPU generator for a request's 64-bit seed in which every bit counts. libtorch's CPU generator seeds its
/// Mersenne Twister (mt19937) from the low 32 bits only, so seeds 5 and 2^32 + 5 drew the same noise. Seeds in
/// [0, 2^32) keep libtorch's own seeding (the images every earlier version gave them); any other seed (negative, or
/// 2^32 and above) gets the twister's state from its two 32-bit halves by the twister's reference initialisation
/// from a key array (init_by_array), written into the generator's state in place of libtorch's.
/// </summary>
internal static class SeededGenerator
{
    private const int StateWords = 624;
    // libtorch's CPU generator state (CPUGeneratorImplStateLegacy, then the float normal cache): the initial seed
    // (uint64), left (int32), seeded (int32), next (uint64), then the 624 twister words, each widened to uint64.
    private const int StateOffset = 24;

    public static Generator Create(long seed)
    {
        var generator = new Generator(unchecked((ulong)seed), CPU);
        if (seed is >= 0 and <= uint.MaxValue) return generator;
        using var state = generator.get_state();
        var bytes = state.data<byte>().ToArray();
        if (bytes.Length < StateOffset + StateWords * 8)
            throw new InvalidOperationException($"libtorch's CPU generator state has {bytes.Length} bytes; a seed outside [0, 2^32) needs the "
                + $"{StateOffset + StateWords * 8}-byte layout it was written for.");
        var words = TwisterSeeding.InitByArray([(uint)((ulong)seed & uint.MaxValue), (uint)((ulong)seed >> 32)]);
        for (int i = 0; i < StateWords; i++) BitConverter.TryWriteBytes(bytes.AsSpan(StateOffset + 8 * i, 8), (ulong)words[i]);
        using var updated = tensor(bytes, dtype: ScalarType.Byte);
        generator.set_state(updated);
        return generator;
    }
}
