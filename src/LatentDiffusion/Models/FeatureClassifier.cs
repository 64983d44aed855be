using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace LatentDiffusion.Models;

/// <summary>
/// The FID feature network (seed 000): two conv/pool stages, then a 128-unit layer whose activations are the
/// features FID compares, then the 10-way digit head.
/// </summary>
internal sealed class FeatureClassifier : Module<Tensor, Tensor>
{
    public const int FeatureSize = 128;

    private readonly Conv2d conv1, conv2;
    private readonly Linear features, head;
    private readonly Dropout dropout;
    private readonly int side;

    public FeatureClassifier(int imageSide, int classes) : base(nameof(FeatureClassifier))
    {
        side = imageSide;
        conv1 = Conv2d(1, 32, 3, padding: 1);
        conv2 = Conv2d(32, 64, 3, padding: 1);
        features = Linear(64 * (imageSide / 4) * (imageSide / 4), FeatureSize);
        dropout = Dropout(0.3);
        head = Linear(FeatureSize, classes);
        RegisterComponents();
    }

    /// <summary>The 128-d penultimate activations for a batch of flat images [N, side*side].</summary>
    public Tensor Features(Tensor images) => FeaturesInWeightFormat(images).to_type(float32);

    /// <summary>Class logits. Inputs and outputs are float32 whatever the weights' number format.</summary>
    public override Tensor forward(Tensor images) => head.forward(dropout.forward(FeaturesInWeightFormat(images))).to_type(float32);

    /// <summary>Features and logits in one pass (evaluation mode).</summary>
    public (Tensor Features, Tensor Logits) FeaturesAndLogits(Tensor images)
    {
        var f = FeaturesInWeightFormat(images);
        return (f.to_type(float32), head.forward(f).to_type(float32));
    }

    private Tensor FeaturesInWeightFormat(Tensor images)
    {
        var x = images.view(-1, 1, side, side).to_type(conv1.weight!.dtype);
        x = functional.max_pool2d(functional.relu(conv1.forward(x)), 2);
        x = functional.max_pool2d(functional.relu(conv2.forward(x)), 2);
        return functional.relu(features.forward(x.flatten(1)));
    }
}
