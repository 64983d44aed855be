using LatentDiffusion.Data;
using LatentDiffusion.Metrics;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace LatentDiffusion.Tests.Data;

/// <summary>Seed 001's data sets: seeded, shaped as the seed writes them, with the labels and components the checks rely on.</summary>
public class ToyDataTests
{
    [Fact]
    public void The_parabola_has_the_seeds_moments()
    {
        var (values, _) = ToyData.Generate(ToyDataSet.Parabola, 20_000, seed: 3);
        var (mean, covariance) = PointCloudStatistics.Moments(values, 2);
        // x ~ N(0, 16): mean 0, variance 16; y = x^2/4 + N(0, 1): mean E[x^2]/4 = 4, variance Var(x^2)/16 + 1 = 2*16^2/16 + 1 = 33.
        Assert.Equal(0, mean[0], 0.1);
        Assert.Equal(16, covariance[0, 0], 0.6);
        Assert.Equal(4, mean[1], 0.1);
        Assert.Equal(33, covariance[1, 1], 2.0);
        Assert.Equal(0, covariance[0, 1], 1.0); // symmetric in x: no covariance
    }

    [Fact]
    public void Moons_and_circles_stack_four_numbers_and_every_point_sits_on_its_labelled_component()
    {
        var (values, labels) = ToyData.Generate(ToyDataSet.MoonsAndCircles, 4000, seed: 5);
        Assert.Equal(4000 * 4, values.Length);
        Assert.Equal([0, 1, 2, 3], labels.Distinct().Order());
        for (int i = 0; i < 4000; i++)
        {
            var (label, distance) = ToyData.NearestComponent(values.AsSpan(4 * i, 4));
            Assert.Equal(labels[i], label);
            Assert.InRange(distance, 0, 0.05); // noise 0.01
        }
        // The moons are shifted by +15, the circles are not.
        Assert.InRange(values.Where((_, i) => i % 4 < 2).Average(), 14, 16);
        Assert.InRange(values.Where((_, i) => i % 4 >= 2).Average(), -0.1, 0.1);
    }

    [Fact]
    public void The_same_seed_gives_the_same_rows_and_the_view_has_the_features_and_label_columns()
    {
        var ml = new MLContext(1);
        var a = ml.Data.LoadToyData(ToyDataSet.MoonsAndCircles, rows: 100, seed: 9);
        var b = ml.Data.LoadToyData(ToyDataSet.MoonsAndCircles, rows: 100, seed: 9);
        Assert.Equal(a.GetColumn<float[]>("Features").ToArray(), b.GetColumn<float[]>("Features").ToArray());
        Assert.Equal(4, ((VectorDataViewType)a.Schema["Features"].Type).Size);
        Assert.Equal(NumberDataViewType.Int32, a.Schema["Label"].Type);
        var parabola = ml.Data.LoadToyData(ToyDataSet.Parabola, rows: 10);
        Assert.Null(parabola.Schema.GetColumnOrNull("Label"));
        Assert.NotEqual(a.GetColumn<float[]>("Features").First(), ml.Data.LoadToyData(ToyDataSet.MoonsAndCircles, rows: 100, seed: 10).GetColumn<float[]>("Features").First());
    }

    [Fact]
    public void The_energy_distance_is_near_zero_for_one_distribution_and_grows_with_a_shift()
    {
        var (a, _) = ToyData.Generate(ToyDataSet.Parabola, 1500, seed: 1);
        var (b, _) = ToyData.Generate(ToyDataSet.Parabola, 1500, seed: 2);
        var shifted = b.Select((v, i) => i % 2 == 0 ? v + 1f : v).ToArray();   // x moved by a quarter of its standard deviation
        double same = PointCloudStatistics.EnergyDistance(a, b, 2), moved = PointCloudStatistics.EnergyDistance(a, shifted, 2);
        Assert.InRange(same, -0.05, 0.05);
        Assert.True(moved > 5 * Math.Abs(same) && moved > 0.05, $"same {same}, shifted {moved}");
    }
}
