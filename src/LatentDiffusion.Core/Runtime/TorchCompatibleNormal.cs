
namespace LatentDiffusion.Runtime;

/// <summary>
/// libtorch's CPU normal draws for float32 tensors, reproduced in managed code: the noise a
/// sampler without TorchSharp (an ONNX Runtime one) needs to give TorchSharp's images. The generator is libtorch's
/// Mersenne Twister (mt19937) seeded as the full library's SeededGenerator seeds it; a float uniform is the low 24 bits of
/// one 32-bit draw over 2^24. A tensor is filled as libtorch's kernel fills it: uniforms first, then Box-Muller on
/// blocks of 16 (u1 = 1 - data[j], u2 = data[j + 8], radius sqrt(-2 log u1), angle 2 pi u2, all in float), the last
/// 16 drawn again when the size is not a multiple of 16. Measured: bit-identical to libtorch's scalar kernel (ATen at
/// capability "default"); its AVX2 and AVX-512 kernels evaluate log, cos and sin with SLEEF's vector functions, so there
/// about a third of the values differ in their last bits (within 2e-6 absolute on 200 seeds). Tensors of fewer than 16
/// values (2-D points) take libtorch's serial path, a double Box-Muller whose second value waits in the generator for
/// the next draw; reproduced too.
/// </summary>
public sealed class TorchCompatibleNormal
{
    private const int N = 624, M = 397;
    private readonly uint[] mt;
    private int next = N;

    /// <summary>The generator of a request seed, as the full library seeds libtorch's (<see cref="TwisterSeeding.ForSeed"/>).</summary>
    public TorchCompatibleNormal(long seed) =>
        mt = TwisterSeeding.ForSeed(seed);

    /// <summary>The next 32-bit output of the twister.</summary>
    public uint NextUInt32()
    {
        if (next >= N) Twist();
        uint y = mt[next++];
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c5680u;
        y ^= (y << 15) & 0xefc60000u;
        y ^= y >> 18;
        return y;
    }

    private void Twist()
    {
        for (int i = 0; i < N; i++)
        {
            uint y = (mt[i] & 0x80000000u) | (mt[(i + 1) % N] & 0x7fffffffu);
            mt[i] = mt[(i + M) % N] ^ (y >> 1) ^ ((y & 1) != 0 ? 0x9908b0dfu : 0u);
        }
        next = 0;
    }

    /// <summary>A float in [0, 1): the low 24 bits of one draw over 2^24.</summary>
    public float NextUniform() => (NextUInt32() & 0xFFFFFF) * (1f / (1 << 24));

    /// <summary>Fills <paramref name="values"/> with standard normal draws as libtorch's randn fills a float tensor of that many values.</summary>
    public void Fill(Span<float> values)
    {
        if (values.Length < 16)
        {
            // libtorch's serial path for small tensors: one double normal at a time.
            for (int i = 0; i < values.Length; i++) values[i] = (float)NextDoubleNormal();
            return;
        }
        for (int i = 0; i < values.Length; i++) values[i] = NextUniform();
        for (int i = 0; i + 16 <= values.Length; i += 16) BoxMuller16(values.Slice(i, 16));
        if (values.Length % 16 != 0)
        {
            var last = values[^16..];
            for (int i = 0; i < 16; i++) last[i] = NextUniform();
            BoxMuller16(last);
        }
    }

    /// <summary>
    /// libtorch's double normal (its normal_distribution&lt;double&gt;): two 53-bit uniforms from 64-bit draws (the
    /// first 32-bit output the high half), radius sqrt(-2 log(1 - u2)), angle 2 pi u1; returns r cos and keeps r sin
    /// for the next call, as the generator does across tensors.
    /// </summary>
    private double NextDoubleNormal()
    {
        if (cachedNormal is { } cached)
        {
            cachedNormal = null;
            return cached;
        }
        double u1 = NextDoubleUniform(), u2 = NextDoubleUniform();
        double radius = Math.Sqrt(-2.0 * Log1P(-u2)), theta = 2.0 * Math.PI * u1;
        cachedNormal = radius * Math.Sin(theta);
        return radius * Math.Cos(theta);
    }

    private double? cachedNormal;

    private double NextDoubleUniform()
    {
        ulong high = NextUInt32(), low = NextUInt32();
        return (((high << 32) | low) & ((1UL << 53) - 1)) * (1.0 / (1UL << 53));
    }

    /// <summary>log(1 + x), accurate for small x (the classic correction of log of the rounded sum).</summary>
    private static double Log1P(double x)
    {
        double u = 1.0 + x;
        return u == 1.0 ? x : Math.Log(u) * x / (u - 1.0);
    }

    private static void BoxMuller16(Span<float> data)
    {
        for (int j = 0; j < 8; j++)
        {
            float u1 = 1 - data[j], u2 = data[j + 8];
            float radius = MathF.Sqrt(-2 * MathF.Log(u1));
            float theta = (float)(2.0f * Math.PI * u2);
            data[j] = radius * MathF.Cos(theta);
            data[j + 8] = radius * MathF.Sin(theta);
        }
    }
}
