using System.Diagnostics;
using Microsoft.ML;

namespace LatentDiffusion.Tests.MLNet;

/// <summary>Long runs: memory stays flat while requests stream through, and evaluation takes every size its message allows.</summary>
[Trait("Data", "MNIST")]
public class StreamingTests(TinyModels models) : IClassFixture<TinyModels>
{
    private static long ResidentBytes()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return Process.GetCurrentProcess().WorkingSet64;
    }

    [Fact]
    public void Resident_memory_stays_flat_over_sixty_batches_of_generation()
    {
        // 60 batches of 16 through Transform; the first ten warm up allocators and caches.
        var view = models.Generator.Transform(models.Requests(60 * TinyModels.Sampling.BatchSize, firstSeed: 100));
        long afterWarmUp = 0, rows = 0;
        using (var cursor = view.GetRowCursor(view.Schema))
        {
            var getter = cursor.GetGetter<Microsoft.ML.Data.VBuffer<float>>(view.Schema["GeneratedImage"]);
            Microsoft.ML.Data.VBuffer<float> image = default;
            while (cursor.MoveNext())
            {
                getter(ref image);
                if (++rows == 10 * TinyModels.Sampling.BatchSize) afterWarmUp = ResidentBytes();
            }
        }
        long growth = ResidentBytes() - afterWarmUp;
        Assert.Equal(60 * TinyModels.Sampling.BatchSize, rows);
        Assert.True(growth < 40L << 20, $"resident memory grew by {growth >> 20} MB over 50 batches");
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void Evaluation_works_down_to_the_two_rows_its_message_asks_for(int rows)
    {
        var evaluator = models.Context.Transforms.FidEvaluator(new LatentDiffusion.MLNet.Evaluation.FidEvaluatorOptions { Epochs = 1 }).Fit(models.Context.Data.TakeRows(models.Train, 200));
        var generated = models.Generator.Transform(models.Requests(rows));
        var metrics = evaluator.Evaluate(generated, models.Context.Data.TakeRows(models.Test, rows), generatedImageColumn: "GeneratedImage", requestedLabelColumn: "Label");
        Assert.True(double.IsFinite(metrics.Fid));
        Assert.InRange(metrics.Precision, 0, 1);
        var one = Assert.Throws<ArgumentException>(() => evaluator.Evaluate(models.Generator.Transform(models.Requests(1)), models.Test, generatedImageColumn: "GeneratedImage"));
        Assert.Contains("at least 2", one.Message);
    }
}
