using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace LatentDiffusion.Models.Classifier;

/// <summary>The reference MNIST FID network (<see cref="FidClassifierKind.Small"/>): two conv/pool stages, a 128-unit layer, the class head.</summary>
internal sealed class SmallFeatureClassifier : FeatureClassifier
{

    // The field names are the weight names in saved models.
    private readonly Conv2d conv1, conv2;
    private readonly Linear features, head;
    private readonly Dropout dropout;

    public SmallFeatureClassifier(ClassifierConfig config, Device device) : base("FeatureClassifier", config)
    {
        conv1 = Conv2d(Channels, 32, 3, padding: 1, device: device);
        conv2 = Conv2d(32, 64, 3, padding: 1, device: device);
        features = Linear(64 * (PaddedHeight / 4) * (PaddedWidth / 4), FeatureSize, device: device);
        dropout = Dropout(0.3);
        head = Linear(FeatureSize, config.Classes, device: device);
        RegisterComponents();
    }

    protected override Tensor ApplyDropout(Tensor features) => dropout.forward(features);
    protected override Tensor ApplyHead(Tensor features) => head.forward(features);

    protected override Tensor FeaturesInWeightFormat(Tensor images)
    {
        var x = Batch(images, conv1.weight!.dtype);
        x = functional.max_pool2d(functional.relu(conv1.forward(x)), 2);
        x = functional.max_pool2d(functional.relu(conv2.forward(x)), 2);
        return functional.relu(features.forward(x.flatten(1)));
    }
}
