using LatentDiffusion.Data;
using LatentDiffusion.Diffusion;
using LatentDiffusion.Diffusion.Samplers;
using LatentDiffusion.MLNet.Denoising;
using LatentDiffusion.Onnx;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace LatentDiffusion.Tests.MLNet;

/// <summary>
/// Self-labelled guidance (issue 44): the denoiser is conditioned on k-means clusters of its own training rows, and an
/// unlabelled request samples a cluster drawn by its seed. Nothing that has seen a label enters: the label column is
/// never read, so changing every label changes nothing.
/// </summary>
public class SelfLabelTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("ld-selflabel-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private sealed class Point
    {
        public int Label { get; set; }
        [VectorType(4)] public float[] Features { get; set; } = [];
    }

    private static IDataView Points(MLContext ml, Func<int, int, int> relabel)
    {
        var (values, labels) = ToyData.Generate(ToyDataSet.MoonsAndCircles, 600, seed: 3);
        return ml.Data.LoadFromEnumerable(Enumerable.Range(0, 600).Select(i => new Point
        {
            Label = relabel(i, labels![i]), Features = values.AsSpan(i * 4, 4).ToArray(),
        }).ToList());
    }

    private static LatentDiffusionOptions Options => new()
    {
        InputColumnName = "Features", LabelColumnName = null, SelfLabelClusters = 4, Width = 16, Depth = 2, Timesteps = 50, Epochs = 2, BatchSize = 64,
        Sampling = new SamplingOptions { Sampler = new DdimSampler { Steps = 5 }, GuidanceScale = 2 },
    };

    private static readonly int[] Unlabelled = [.. Enumerable.Repeat(-1, 12)];
    private static readonly long[] Seeds = [.. Enumerable.Range(0, 12).Select(i => 500L + i)];

    [Fact]
    public void Changing_every_label_changes_nothing_the_label_column_is_never_read()
    {
        var ml = new MLContext(1);
        var a = ml.Transforms.TrainLatentDiffusion(Options).Fit(Points(ml, (_, label) => label));
        var b = ml.Transforms.TrainLatentDiffusion(Options).Fit(Points(ml, (i, label) => (label + 1 + i) % 4));
        Assert.Equal(a.Sample(Unlabelled, Seeds), b.Sample(Unlabelled, Seeds));
        Assert.Equal(4, a.Classes);
        Assert.Null(a.LabelColumnName);
    }

    [Fact]
    public void Unlabelled_requests_draw_their_cluster_by_seed_and_both_engines_and_the_saved_file_agree()
    {
        var ml = new MLContext(1);
        var model = ml.Transforms.TrainLatentDiffusion(Options).Fit(Points(ml, (_, label) => label));
        var shares = model.Model.Config.ClusterShares!;
        Assert.Equal(4, shares.Length);
        Assert.Equal(1.0, shares.Sum(), 1e-12);
        var drawn = model.Model.Process.RequestLabels([.. Enumerable.Repeat(-1, 4000)], [.. Enumerable.Range(0, 4000).Select(i => (long)i)]);
        for (int c = 0; c < 4; c++)
            Assert.InRange(drawn.Count(l => l == c) / 4000.0, shares[c] - 0.03, shares[c] + 0.03);
        // A request's cluster depends on its seed alone, not on its batch mates.
        Assert.Equal(model.Model.Process.RequestLabels([-1], [Seeds[5]])[0], model.Model.Process.RequestLabels(Unlabelled, Seeds)[5]);

        var samples = model.Sample(Unlabelled, Seeds);
        string path = Path.Combine(folder, "self.zip");
        ml.Model.Save(model, null, path);
        var fresh = new MLContext(2);
        fresh.ComponentCatalog.RegisterLatentDiffusion();
        var file = fresh.Model.Load(path, out _);
        var loaded = file as LatentDiffusionTransformer ?? ((IEnumerable<ITransformer>)file).OfType<LatentDiffusionTransformer>().Single();
        Assert.Equal(samples, loaded.Sample(Unlabelled, Seeds));
        model.ExportOnnx(Path.Combine(folder, "onnx"));
        using var onnx = OnnxGenerator.Load(Path.Combine(folder, "onnx"));
        var onOnnx = onnx.Sample(Unlabelled, Seeds);
        Assert.True(samples.Zip(onOnnx, (x, y) => Math.Abs(x - y)).Max() < 1e-3 * samples.Max(Math.Abs));
    }

    [Fact]
    public void Self_labels_with_a_label_column_are_refused_naming_both_options()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new MLContext(1).Transforms.TrainLatentDiffusion(new LatentDiffusionOptions
        {
            SelfLabelClusters = 8,
        }));
        Assert.Contains("SelfLabelClusters must be 0 when LatentDiffusionOptions.LabelColumnName is set ('Label')", e.Message);
    }
}
