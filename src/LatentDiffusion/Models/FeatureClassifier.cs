using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace LatentDiffusion.Models;

/// <summary>What the FID feature classifier is built for: the image shape and the number of classes.</summary>
public sealed record ClassifierConfig
{
    /// <summary>Image shape (channels, height, width), any sides: the network pads them up to a multiple of 4.</summary>
    public int[] ImageShape { get; init; } = [1, 28, 28];

    /// <summary>Number of classes.</summary>
    public int Classes { get; init; } = 10;

    /// <summary>Floats per image.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public int ImageSize => ImageShape.Aggregate(1, (a, b) => a * b);

    internal void Validate(string source)
    {
        if (ImageShape is not { Length: 3 } || ImageShape[0] is < 1 or > 1024 || ImageShape[1] is < 1 or > 4096 || ImageShape[2] is < 1 or > 4096)
            throw new ArgumentOutOfRangeException(nameof(ImageShape), $"[{string.Join(", ", ImageShape ?? [])}]",
                $"The classifier of {source} needs an image shaped (channels, height, width) with 1..1024 channels and sides in 1..4096.");
        if (Classes is < 2 or > 100_000)
            throw new ArgumentOutOfRangeException(nameof(Classes), Classes, $"The classifier of {source} needs 2..100000 classes.");
    }
}

/// <summary>
/// The FID feature network (seed 000): two conv/pool stages, then a 128-unit layer whose activations are the
/// features FID compares, then the class head. Sides are padded with zeros up to a multiple of 4 (the two poolings).
/// </summary>
internal sealed class FeatureClassifier : Module<Tensor, Tensor>
{
    public const int FeatureSize = 128;

    // The field names are the weight names in saved models.
    private readonly Conv2d conv1, conv2;
    private readonly Linear features, head;
    private readonly Dropout dropout;
    private readonly long channels, height, width, paddedHeight, paddedWidth;

    public FeatureClassifier(ClassifierConfig config, Device device) : base(nameof(FeatureClassifier))
    {
        Config = config;
        (channels, height, width) = (config.ImageShape[0], config.ImageShape[1], config.ImageShape[2]);
        (paddedHeight, paddedWidth) = ((height + 3) / 4 * 4, (width + 3) / 4 * 4);
        conv1 = Conv2d(channels, 32, 3, padding: 1, device: device);
        conv2 = Conv2d(32, 64, 3, padding: 1, device: device);
        features = Linear(64 * (paddedHeight / 4) * (paddedWidth / 4), FeatureSize, device: device);
        dropout = Dropout(0.3);
        head = Linear(FeatureSize, config.Classes, device: device);
        RegisterComponents();
    }

    public ClassifierConfig Config { get; }

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
        var x = images.view(-1, channels, height, width);
        if (paddedHeight != height || paddedWidth != width) x = functional.pad(x, [0, paddedWidth - width, 0, paddedHeight - height]);
        x = x.to_type(conv1.weight!.dtype);
        x = functional.max_pool2d(functional.relu(conv1.forward(x)), 2);
        x = functional.max_pool2d(functional.relu(conv2.forward(x)), 2);
        return functional.relu(features.forward(x.flatten(1)));
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
        return new ClassifierModel(new FeatureClassifier(config, device), device);
    }

    /// <summary>The number of weights the classifier of <paramref name="config"/> has, counted on the "meta" device (nothing is allocated).</summary>
    public static long ParameterCount(ClassifierConfig config)
    {
        config.Validate("the classifier");
        using var network = new FeatureClassifier(config, new Device("meta"));
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
