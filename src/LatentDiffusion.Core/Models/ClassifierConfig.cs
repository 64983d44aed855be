
namespace LatentDiffusion.Models;

/// <summary>The network behind the FID features.</summary>
public enum FidClassifierKind
{
    /// <summary>
    /// The reference MNIST FID network: two conv/pool stages and a 128-unit layer, no normalisation. The kind of every classifier
    /// saved before the normalised one existed (a saved file without a kind reads as this one, so its figures stay put).
    /// </summary>
    Small = 0,
    /// <summary>
    /// Two stages of two 3x3 convolutions with batch normalisation, then a batch-normalised 128-unit layer whose
    /// activations are the features. The default: with augmentation it reaches 99.5%+ on MNIST's test split.
    /// </summary>
    Normalized = 1,
    /// <summary>
    /// Not trained: ResNet18 pretrained on ImageNet, through ML.NET's <c>DnnImageFeaturizer</c> (its ONNX files ship in
    /// the Microsoft.ML.DnnImageFeaturizer.ResNet18 package, so it works offline). Its 512 features describe natural
    /// images of any size and number of channels (resized to 224x224, grey repeated into red, green and blue); it
    /// predicts no classes, so there is no accuracy or label entropy. Its FID values are not comparable with a trained
    /// classifier's.
    /// </summary>
    PretrainedResNet18 = 2,
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

    /// <summary>Checks the shape and class count; <paramref name="source"/> names where the config came from in messages.</summary>
    public void Validate(string source)
    {
        if (ImageShape is not { Length: 3 } || ImageShape[0] is < 1 or > 1024 || ImageShape[1] is < 1 or > 4096 || ImageShape[2] is < 1 or > 4096)
            throw new ArgumentOutOfRangeException(nameof(ImageShape), $"[{string.Join(", ", ImageShape ?? [])}]",
                $"The classifier of {source} needs an image shaped (channels, height, width) with 1..1024 channels and sides in 1..4096.");
        if (!Enum.IsDefined(Kind))
            throw new ArgumentOutOfRangeException(nameof(Kind), Kind,
                $"The classifier of {source} names an unknown network kind; expected {string.Join(" or ", Enum.GetNames<FidClassifierKind>())}.");
        if (Kind == FidClassifierKind.PretrainedResNet18 ? Classes != 0 : Classes is < 2 or > 100_000)
            throw new ArgumentOutOfRangeException(nameof(Classes), Classes, Kind == FidClassifierKind.PretrainedResNet18
                ? $"The pretrained features of {source} predict no classes; Classes must be 0."
                : $"The classifier of {source} needs 2..100000 classes.");
    }
}
