using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace LatentDiffusion.Models;

/// <summary>The network behind the FID features.</summary>
public enum FidClassifierKind
{
    /// <summary>
    /// Seed 000's network: two conv/pool stages and a 128-unit layer, no normalisation. The kind of every classifier
    /// saved before the normalised one existed (a saved file without a kind reads as this one, so its figures stay put).
    /// </summary>
    Small = 0,
    /// <summary>
    /// Two stages of two 3x3 convolutions with batch normalisation, then a batch-normalised 128-unit layer whose
    /// activations are the features. The default: with augmentation it reaches 99.5%+ on MNIST's test split.
    /// </summary>
    Normalized = 1,
}

/// <summary>What the FID feature classifier is built for: the network, the image shape and the number of classes.</summary>
public sealed record ClassifierConfig
{
    /// <summary>The network. Missing in files saved before it existed, which therefore read as <see cref="FidClassifierKind.Small"/>.</summary>
    public FidClassifierKind Kind { get; init; } = FidClassifierKind.Small;

    /// <summary>Image shape (channels, height, width), any sides: the network pads them up to a multiple of 4.</summary>
    public int[] ImageShape { get; init; } = [1, 28, 28];

    /// <summary>Number of classes.</summary>
    public int Classes { get; init; } = 10;

    /// <summary>
    /// Instrument version 2: after training, the batch-norm statistics were recomputed over the training images without
    /// augmentation. False in files written before (version 1), which keep their statistics and so their figures.
    /// </summary>
    public bool BatchNormRecalibrated { get; init; }

    /// <summary>Floats per image.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public int ImageSize => ImageShape.Aggregate(1, (a, b) => a * b);

    internal void Validate(string source)
    {
        if (ImageShape is not { Length: 3 } || ImageShape[0] is < 1 or > 1024 || ImageShape[1] is < 1 or > 4096 || ImageShape[2] is < 1 or > 4096)
            throw new ArgumentOutOfRangeException(nameof(ImageShape), $"[{string.Join(", ", ImageShape ?? [])}]",
                $"The classifier of {source} needs an image shaped (channels, height, width) with 1..1024 channels and sides in 1..4096.");
        if (!Enum.IsDefined(Kind))
            throw new ArgumentOutOfRangeException(nameof(Kind), Kind, $"The classifier of {source} names an unknown network kind; expected {string.Join(" or ", Enum.GetNames<FidClassifierKind>())}.");
        if (Classes is < 2 or > 100_000)
            throw new ArgumentOutOfRangeException(nameof(Classes), Classes, $"The classifier of {source} needs 2..100000 classes.");
    }
}

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

/// <summary>Seed 000's FID network (<see cref="FidClassifierKind.Small"/>): two conv/pool stages, a 128-unit layer, the class head.</summary>
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

/// <summary>A trained feature classifier on its device: features, class probabilities and predictions for flat images.</summary>
internal sealed class ClassifierModel
{
    private readonly object gate = new();

    public ClassifierModel(FeatureClassifier network, Device device)
    {
        Network = network;
        Device = device;
        network.eval();
    }

    /// <summary>An untrained classifier of <paramref name="config"/> on <paramref name="device"/>, ready for its weights.</summary>
    public static ClassifierModel Build(ClassifierConfig config, Device device, string source)
    {
        config.Validate(source);
        return new ClassifierModel(FeatureClassifier.Create(config, device), device);
    }

    /// <summary>The number of weights the classifier of <paramref name="config"/> has, counted on the "meta" device (nothing is allocated).</summary>
    public static long ParameterCount(ClassifierConfig config)
    {
        config.Validate("the classifier");
        using var network = FeatureClassifier.Create(config, new Device("meta"));
        return network.parameters().Sum(p => p.numel());
    }

    public FeatureClassifier Network { get; }
    public ClassifierConfig Config => Network.Config;
    public Device Device { get; }

    /// <summary>Features [rows x 128], class probabilities [rows x classes] and predicted classes of <paramref name="rows"/> flat images.</summary>
    public (float[] Features, float[] Probabilities, int[] Predicted) Run(float[] images, int rows)
    {
        lock (gate)
        {
            using var _ = no_grad();
            using var scope = NewDisposeScope();
            var (f, logits) = Network.FeaturesAndLogits(tensor(images, [rows, Config.ImageSize], device: Device));
            var probabilities = nn.functional.softmax(logits, 1).cpu();
            return (f.cpu().flatten().data<float>().ToArray(), probabilities.flatten().data<float>().ToArray(),
                probabilities.argmax(1).to_type(int32).data<int>().ToArray());
        }
    }
}
