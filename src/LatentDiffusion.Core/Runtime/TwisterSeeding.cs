
namespace LatentDiffusion.Runtime;

/// <summary>
/// The Mersenne Twister's (mt19937) reference seedings, as libtorch's CPU generator and <c>SeededGenerator</c> use
/// them: from one 32-bit word (init_genrand) and from a key array (init_by_array).
/// </summary>
public static class TwisterSeeding
{
    private const int StateWords = 624;

    /// <summary>The twister's state after its reference seeding from one 32-bit word (init_genrand), as libtorch seeds it.</summary>
    public static uint[] InitGenrand(uint seed)
    {
        var mt = new uint[StateWords];
        mt[0] = seed;
        for (int i = 1; i < StateWords; i++) mt[i] = unchecked(1812433253u * (mt[i - 1] ^ (mt[i - 1] >> 30)) + (uint)i);
        return mt;
    }

    /// <summary>The twister's state after its reference seeding from a key array (init_by_array, Matsumoto and Nishimura 2002).</summary>
    public static uint[] InitByArray(uint[] key)
    {
        var mt = InitGenrand(19650218u);
        int i = 1, j = 0;
        for (int k = Math.Max(StateWords, key.Length); k > 0; k--)
        {
            mt[i] = unchecked((mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1664525u)) + key[j] + (uint)j);
            i++;
            j++;
            if (i >= StateWords) { mt[0] = mt[StateWords - 1]; i = 1; }
            if (j >= key.Length) j = 0;
        }
        for (int k = StateWords - 1; k > 0; k--)
        {
            mt[i] = unchecked((mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1566083941u)) - (uint)i);
            i++;
            if (i >= StateWords) { mt[0] = mt[StateWords - 1]; i = 1; }
        }
        mt[0] = 0x80000000u;
        return mt;
    }

    /// <summary>The state for a 64-bit request seed: libtorch's seeding for [0, 2^32), the key array of its two halves otherwise.</summary>
    public static uint[] ForSeed(long seed) =>
        seed is >= 0 and <= uint.MaxValue ? InitGenrand((uint)seed) : InitByArray([(uint)((ulong)seed & uint.MaxValue), (uint)((ulong)seed >> 32)]);
}
