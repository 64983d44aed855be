using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace LatentDiffusion.Models.Classifier;

/// <summary>
/// The default FID network (<see cref="FidClassifierKind.Normalized"/>): three 3x3 convolutions (32, 64 and 64
/// channels), each followed by batch normalisation and ReLU, with a 2x max-pool after the first two; then a 128-unit
/// layer with batch normalisation and ReLU (the features), dropout and the class head.
/// </summary>
internal sealed class NormalizedFeatureClassifier : FeatureClassifier
{
    // The field names are the weight names in saved models.
    private readonly Conv2d conv1, conv2, conv3;
    private readonly BatchNorm2d norm1, norm2, norm3;
    private readonly Linear features, head;
    private readonly BatchNorm1d featureNorm;
    private readonly Dropout dropout;

    public NormalizedFeatureClassifier(ClassifierConfig config, Device device) : base("NormalizedFeatureClassifier", config)
    {
        conv1 = Conv2d(Channels, 32, 3, padding: 1, bias: false, device: device);
        norm1 = BatchNorm2d(32, device: device);
        conv2 = Conv2d(32, 64, 3, padding: 1, bias: false, device: device);
        norm2 = BatchNorm2d(64, device: device);
        conv3 = Conv2d(64, 64, 3, padding: 1, bias: false, device: device);
        norm3 = BatchNorm2d(64, device: device);
        features = Linear(64 * (PaddedHeight / 4) * (PaddedWidth / 4), FeatureSize, hasBias: false, device: device);
        featureNorm = BatchNorm1d(FeatureSize, device: device);
        dropout = Dropout(0.3);
        head = Linear(FeatureSize, config.Classes, device: device);
        RegisterComponents();
    }

    protected override Tensor ApplyDropout(Tensor features) => dropout.forward(features);
    protected override Tensor ApplyHead(Tensor features) => head.forward(features);

    protected override Tensor FeaturesInWeightFormat(Tensor images)
    {
        var x = Batch(images, conv1.weight!.dtype);
        x = functional.max_pool2d(functional.relu(norm1.forward(conv1.forward(x))), 2);
        x = functional.max_pool2d(functional.relu(norm2.forward(conv2.forward(x))), 2);
        x = functional.relu(norm3.forward(conv3.forward(x)));
        return functional.relu(featureNorm.forward(features.forward(x.flatten(1))));
    }
}
