using LatentDiffusion.Data;
using LatentDiffusion.MLNet.Denoising;
using Microsoft.ML;

namespace LatentDiffusion.Tests.MLNet;

/// <summary>Sizes that cannot fit in memory are refused before anything is allocated, naming the option.</summary>
public class MemoryTests
{
    [Fact]
    public void A_network_too_large_for_memory_is_refused_naming_the_option_before_allocation()
    {
        // An MLP of width 4096 and depth 64 is about 2 billion weights: some 47 GB to train, more than this machine has.
        var ml = new MLContext(1);
        var data = ml.Data.LoadToyData(ToyDataSet.Parabola, 64, seed: 1);
        var trainer = ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions
        {
            InputColumnName = "Features", LabelColumnName = null, Width = 4096, Depth = 64, Epochs = 1,
        });
        long before = GC.GetTotalMemory(true);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => trainer.Fit(data));
        Assert.Equal("Width", e.ParamName);
        Assert.Equal(4096, e.ActualValue);
        Assert.Contains("GB", e.Message);
        Assert.InRange(GC.GetTotalMemory(true) - before, long.MinValue, 100L << 20);
    }
}
