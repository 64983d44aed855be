
namespace LatentDiffusion.Models.Classifier;

/// <summary>
/// What the FID instrument runs on flat images: a trained <see cref="ClassifierModel"/>, or pretrained features that
/// predict no classes (<see cref="ClassifierConfig.Classes"/> 0).
/// </summary>
internal interface IFeatureNetwork
{
    ClassifierConfig Config { get; }

    /// <summary>Features per image.</summary>
    int FeatureSize { get; }

    /// <summary>
    /// Features [rows x <see cref="FeatureSize"/>], class probabilities [rows x classes] and predicted classes of
    /// <paramref name="rows"/> flat images (both empty without classes).
    /// </summary>
    (float[] Features, float[] Probabilities, int[] Predicted) Run(float[] images, int rows);

    /// <summary>The SHA-256 (lower-case hex) of what the features are computed with: weights, or model files.</summary>
    string Identity();
}
