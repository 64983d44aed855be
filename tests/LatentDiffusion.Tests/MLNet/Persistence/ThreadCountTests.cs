using LatentDiffusion.MLNet.Generation;
using Microsoft.ML;
using Microsoft.ML.Data;
using TorchSharp;

namespace LatentDiffusion.Tests.MLNet.Persistence;

/// <summary>
/// libtorch splits reductions by its thread count, so the thread count can move the last bits (measured here: a few
/// dozen of 9,408 values, at most 1.2e-7 of scale, between 1, 2 and 4 threads). Bit-identity holds for the same
/// thread count; across thread counts the cross-CPU tolerance holds.
/// </summary>
[Trait("Category", "CrossCpu")]
public class ThreadCountTests
{
    private static float[] Generate(string fixture, int threads)
    {
        var ml = new MLContext(1);
        ml.ComponentCatalog.RegisterLatentDiffusion();
        var chain = (TransformerChain<ITransformer>)ml.Model.Load(Path.Combine(AppContext.BaseDirectory, "Fixtures", fixture), out _);
        int before = torch.get_num_threads();
        torch.set_num_threads(threads);
        try
        {
            return ((DigitGeneratorTransformer)chain.LastTransformer).Generate(
                [3, -1, 7, -1, 0, 1, 2, 4, 5, 6, 8, 9], Enumerable.Range(11, 12).Select(i => (long)i).ToArray());
        }
        finally { torch.set_num_threads(before); }
    }

    [Theory]
    [InlineData("chain-v2.zip", false)]
    [InlineData("chain-v4.zip", true)]
    public void Another_thread_count_stays_within_the_cross_cpu_tolerance_and_the_same_one_is_bit_identical(string fixture, bool bfloat16)
    {
        var tolerance = bfloat16 ? CrossCpu.BFloat16 : CrossCpu.Float32;
        var two = Generate(fixture, 2);
        Assert.Equal(two, Generate(fixture, 2));
        foreach (int threads in new[] { 1, 4 })
        {
            var deviation = CrossCpu.Measure(two, Generate(fixture, threads));
            Assert.True(tolerance.Admits(deviation), $"{threads} threads against 2: {deviation}");
        }
    }
}
