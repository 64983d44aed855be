namespace MnistLatentDiffusion.Benchmarks;

/// <summary>
/// How far a clustering agrees with true labels, for reports only (issue 44 measures its self-labels afterwards and
/// never chooses by it): purity, normalised mutual information (arithmetic-mean normalisation) and the adjusted Rand
/// index (Hubert and Arabie), all from the contingency table.
/// </summary>
/// <param name="Purity">Share of rows whose cluster's most common label is their own.</param>
/// <param name="NormalizedMutualInformation">2 I(C; L) / (H(C) + H(L)), in [0, 1].</param>
/// <param name="AdjustedRandIndex">Pair agreement corrected for chance: 0 for a random clustering, 1 for the labels themselves.</param>
public sealed record ClusterAgreement(double Purity, double NormalizedMutualInformation, double AdjustedRandIndex)
{
    /// <summary>The agreement of <paramref name="clusters"/> with <paramref name="labels"/>, row for row.</summary>
    public static ClusterAgreement Of(IReadOnlyList<int> clusters, IReadOnlyList<int> labels)
    {
        if (clusters.Count != labels.Count || clusters.Count == 0)
            throw new ArgumentException($"Clusters ({clusters.Count}) and labels ({labels.Count}) must give one value per row, for at least one row.");
        var table = new Dictionary<(int, int), long>();
        var clusterSizes = new Dictionary<int, long>();
        var labelSizes = new Dictionary<int, long>();
        for (int i = 0; i < clusters.Count; i++)
        {
            table[(clusters[i], labels[i])] = table.GetValueOrDefault((clusters[i], labels[i])) + 1;
            clusterSizes[clusters[i]] = clusterSizes.GetValueOrDefault(clusters[i]) + 1;
            labelSizes[labels[i]] = labelSizes.GetValueOrDefault(labels[i]) + 1;
        }
        double n = clusters.Count;
        double purity = table.GroupBy(e => e.Key.Item1).Sum(g => g.Max(e => e.Value)) / n;
        double mutual = table.Sum(e => e.Value / n * Math.Log(e.Value * n / ((double)clusterSizes[e.Key.Item1] * labelSizes[e.Key.Item2])));
        double Entropy(Dictionary<int, long> sizes) => -sizes.Values.Sum(c => c / n * Math.Log(c / n));
        double entropies = Entropy(clusterSizes) + Entropy(labelSizes);
        double nmi = entropies == 0 ? 1 : 2 * mutual / entropies;
        static double Pairs(double c) => c * (c - 1) / 2;
        double index = table.Values.Sum(c => Pairs(c)), rows = clusterSizes.Values.Sum(c => Pairs(c)), columns = labelSizes.Values.Sum(c => Pairs(c));
        double expected = rows * columns / Pairs(n), maximum = (rows + columns) / 2;
        double ari = maximum == expected ? 1 : (index - expected) / (maximum - expected);
        return new ClusterAgreement(purity, nmi, ari);
    }
}
