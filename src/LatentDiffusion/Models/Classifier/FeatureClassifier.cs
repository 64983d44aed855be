
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace LatentDiffusion.Models.Classifier;

/// <summary>
/// A network whose 128 penultimate activations are the FID features: two 2x poolings (sides are padded with zeros up
/// to a multiple of 4), a 128-unit layer, a dropout and the class head.
/// </summary>
internal abstract class FeatureClassifier : Module<Tensor, Tensor>
{
    public const int FeatureSize = 128;

    protected FeatureClassifier(string name, ClassifierConfig config) : base(name)
    {
        Config = config;
        (Channels, Height, Width) = (config.ImageShape[0], config.ImageShape[1], config.ImageShape[2]);
        (PaddedHeight, PaddedWidth) = ((Height + 3) / 4 * 4, (Width + 3) / 4 * 4);
    }

    public ClassifierConfig Config { get; }
    protected long Channels { get; }
    protected long Height { get; }
    protected long Width { get; }
    protected long PaddedHeight { get; }
    protected long PaddedWidth { get; }

    /// <summary>The network of <paramref name="config"/>'s kind.</summary>
    public static FeatureClassifier Create(ClassifierConfig config, Device device) => config.Kind switch
    {
        FidClassifierKind.Small => new SmallFeatureClassifier(config, device),
        FidClassifierKind.Normalized => new NormalizedFeatureClassifier(config, device),
        _ => throw new ArgumentOutOfRangeException(nameof(config), config.Kind, "Unknown classifier kind."),
    };

    /// <summary>Class logits. Inputs and outputs are float32 whatever the weights' number format.</summary>
    public override Tensor forward(Tensor images) => ApplyHead(ApplyDropout(FeaturesInWeightFormat(images))).to_type(float32);

    /// <summary>Features and logits in one pass (evaluation mode).</summary>
    public (Tensor Features, Tensor Logits) FeaturesAndLogits(Tensor images)
    {
        var f = FeaturesInWeightFormat(images);
        return (f.to_type(float32), ApplyHead(f).to_type(float32));
    }

    /// <summary>The images as [rows, channels, padded height, padded width] in <paramref name="type"/>.</summary>
    protected Tensor Batch(Tensor images, ScalarType type)
    {
        var x = images.view(-1, Channels, Height, Width);
        if (PaddedHeight != Height || PaddedWidth != Width) x = functional.pad(x, [0, PaddedWidth - Width, 0, PaddedHeight - Height]);
        return x.to_type(type);
    }

    protected abstract Tensor FeaturesInWeightFormat(Tensor images);
    protected abstract Tensor ApplyDropout(Tensor features);
    protected abstract Tensor ApplyHead(Tensor features);
}
