
namespace LatentDiffusion.MLNet.Evaluation;

/// <summary>Scores of a generator against reference data.</summary>
/// <param name="Fid">Frechet distance of the classifier features.</param>
/// <param name="KidMean">Kernel distance, unbiased, mean over subsets.</param>
/// <param name="KidStd">Standard deviation of KID over subsets.</param>
/// <param name="Precision">Share of generated samples on the reference manifold (k = 3; 1 or 2 for sets of 2 or 3 rows).</param>
/// <param name="Recall">Share of reference samples on the generated manifold (k = 3).</param>
/// <param name="ConditionalAccuracy">Classifier accuracy on rows that carry the label they asked for; null otherwise.</param>
/// <param name="LabelEntropy">Entropy (nats) of the predicted labels of the generated rows; ln 10 = 2.303 when balanced.</param>
/// <param name="GeneratedCount">Generated rows.</param>
/// <param name="ReferenceCount">Reference rows.</param>
public sealed record GeneratorMetrics(double Fid, double KidMean, double KidStd, double Precision, double Recall,
    double? ConditionalAccuracy, double LabelEntropy, int GeneratedCount, int ReferenceCount);
