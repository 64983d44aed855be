
using LatentDiffusion.IO;
using static TorchSharp.torch;

namespace LatentDiffusion.Models.Classifier;

/// <summary>A trained feature classifier on its device: features, class probabilities and predictions for flat images.</summary>
internal sealed class ClassifierModel : IModelFamily<ClassifierConfig, ClassifierModel>, IFeatureNetwork
{
    private readonly object gate = new();

    public ClassifierModel(FeatureClassifier network, Device device)
    {
        Network = network;
        Device = device;
        network.eval();
    }

    /// <inheritdoc/>
    public static void Validate(ClassifierConfig config, string source) => config.Validate(source);

    /// <inheritdoc/>
    public static long ParameterCount(ClassifierConfig config) => ModelFamily.CountOnMeta(device => FeatureClassifier.Create(config, device));

    /// <inheritdoc/>
    public static ClassifierModel Build(ClassifierConfig config, Device device) => new(FeatureClassifier.Create(config, device), device);

    public FeatureClassifier Network { get; }
    public ClassifierConfig Config => Network.Config;
    public Device Device { get; }
    public int FeatureSize => FeatureClassifier.FeatureSize;

    /// <summary>The SHA-256 of the weights (names, shapes and values).</summary>
    public string Identity()
    {
        using var buffer = new MemoryStream();
        using (var w = new BinaryWriter(buffer, System.Text.Encoding.UTF8, leaveOpen: true)) ModuleWeights.Write(w, Network);
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(buffer.GetBuffer().AsSpan(0, (int)buffer.Length)));
    }

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
