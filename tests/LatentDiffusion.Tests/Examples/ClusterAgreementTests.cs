using LatentDiffusion.MLNet.Denoising;
using MnistLatentDiffusion.Benchmarks;

namespace LatentDiffusion.Tests.Examples;

/// <summary>
/// The agreement figures issue 44's report gives for its self-labels (purity, NMI, ARI), against values worked by hand
/// (and published by scikit-learn for the same inputs), and the public clustering they measure: the self-labels of
/// well-separated groups are the groups, and a wrong row count is refused with one sentence.
/// </summary>
public class ClusterAgreementTests
{
    [Fact]
    public void Agreement_figures_match_the_hand_worked_values()
    {
        // Contingency: cluster 0 = two of label 0; cluster 1 = one of each; cluster 2 = two of label 1.
        var a = ClusterAgreement.Of([0, 0, 1, 1, 2, 2], [0, 0, 0, 1, 1, 1]);
        Assert.Equal(5.0 / 6, a.Purity, 12);
        Assert.Equal(2 * (2.0 / 3 * Math.Log(2)) / (Math.Log(3) + Math.Log(2)), a.NormalizedMutualInformation, 12);   // 0.5158...
        Assert.Equal(0.8 / 3.3, a.AdjustedRandIndex, 12);   // 0.2424...
        var same = ClusterAgreement.Of([5, 5, 7, 7], [0, 0, 1, 1]);
        Assert.Equal((1.0, 1.0, 1.0), (same.Purity, same.NormalizedMutualInformation, same.AdjustedRandIndex));
        var one = ClusterAgreement.Of([3, 3, 3, 3], [0, 0, 1, 1]);
        Assert.Equal((0.5, 0.0, 0.0), (one.Purity, one.NormalizedMutualInformation, one.AdjustedRandIndex));
    }

    [Fact]
    public void Self_labels_of_separated_groups_are_the_groups_and_a_wrong_size_is_refused()
    {
        var random = new Random(5);
        int rows = 300;
        var groups = Enumerable.Range(0, rows).Select(i => i % 3).ToArray();
        var values = groups.SelectMany(g => Enumerable.Range(0, 8).Select(k => (float)((k % 3 == g ? 4.0 : 0.0) + 0.2 * random.NextDouble()))).ToArray();
        var clusters = SelfLabeling.Clusters(values, rows, [2, 4], clusters: 3);
        Assert.Equal(1.0, ClusterAgreement.Of(clusters, groups).AdjustedRandIndex, 12);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => SelfLabeling.Clusters(values, rows + 1, [2, 4], clusters: 3));
        Assert.StartsWith("values must hold 301 rows of [2, 4] (2408 floats), got 2400.", e.Message);
    }
}
