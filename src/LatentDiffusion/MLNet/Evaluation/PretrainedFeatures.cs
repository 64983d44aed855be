using System.Security.Cryptography;
using LatentDiffusion.Models;
using LatentDiffusion.Models.Classifier;
using Microsoft.ML;
using Microsoft.ML.Data;
using static TorchSharp.torch;

namespace LatentDiffusion.MLNet.Evaluation;

/// <summary>
/// ImageNet-pretrained ResNet18 features through ML.NET's <c>DnnFeaturizeImage</c> (ONNX Runtime): images of any shape
/// in [0, 1], channel-first, are resized to 224x224 (bilinear, antialiased when shrinking), grey repeated into red,
/// green and blue, scaled to 0..255 as <c>ExtractPixels</c> gives them, then the featurizer's own preprocessing and
/// network give 512 features. The model files are the ones the Microsoft.ML.DnnImageFeaturizer.ResNet18 package copies
/// beside the app (folder <c>DnnImageModels</c>); their SHA-256 is the instrument's identity.
/// </summary>
internal sealed class PretrainedFeatures : IFeatureNetwork
{
    /// <summary>The network's input side.</summary>
    public const int Side = 224;
    private const int Channels = 3, PixelCount = Channels * Side * Side, SubBatch = 32;
    private static readonly string[] ModelFiles = [Path.Combine("ResNetPrepOnnx", "ResNetPreprocess.onnx"), Path.Combine("ResNet18Onnx", "ResNet18.onnx")];

    private readonly MLContext ml = new(0);
    private readonly ITransformer featurizer;
    private readonly SchemaDefinition schema;
    private readonly string folder;
    private readonly object gate = new();

    private sealed class PixelRow
    {
        public float[] Pixels { get; set; } = [];
    }

    public PretrainedFeatures(int[] imageShape)
    {
        Config = new ClassifierConfig { Kind = FidClassifierKind.PretrainedResNet18, ImageShape = imageShape, Classes = 0 };
        if (imageShape is not [1 or 3, > 0, > 0])
            throw new ArgumentOutOfRangeException(nameof(imageShape), $"[{string.Join(", ", imageShape)}]",
                "The pretrained ResNet18 features need images of 1 or 3 channels (channels, height, width).");
        folder = Path.Combine(AppContext.BaseDirectory, "DnnImageModels");
        foreach (var file in ModelFiles)
            if (!File.Exists(Path.Combine(folder, file)))
                throw new FileNotFoundException($"The pretrained ResNet18 instrument needs '{Path.Combine(folder, file)}', which the "
                    + "Microsoft.ML.DnnImageFeaturizer.ResNet18 package copies beside the app when it builds; it is missing. Rebuild the app "
                    + "(the LatentDiffusion package brings that package with it).", Path.Combine(folder, file));
        schema = SchemaDefinition.Create(typeof(PixelRow));
        schema[nameof(PixelRow.Pixels)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, PixelCount);
        var empty = ml.Data.LoadFromEnumerable(Array.Empty<PixelRow>(), schema);
        featurizer = ml.Transforms.DnnFeaturizeImage("Features", m => m.ModelSelector.ResNet18(ml, m.OutputColumn, m.InputColumn, folder),
            nameof(PixelRow.Pixels)).Fit(empty);
    }

    public ClassifierConfig Config { get; }

    public int FeatureSize => 512;

    public (float[] Features, float[] Probabilities, int[] Predicted) Run(float[] images, int rows)
    {
        int size = Config.ImageSize;
        var features = new float[rows * FeatureSize];
        lock (gate)
            for (int start = 0; start < rows; start += SubBatch)
            {
                int n = Math.Min(SubBatch, rows - start);
                var pixels = Pixels(images.AsSpan(start * size, n * size), n);
                var batch = Enumerable.Range(0, n).Select(i => new PixelRow { Pixels = pixels[(i * PixelCount)..((i + 1) * PixelCount)] }).ToArray();
                var output = featurizer.Transform(ml.Data.LoadFromEnumerable(batch, schema));
                int i = 0;
                foreach (var row in output.GetColumn<float[]>("Features"))
                    row.CopyTo(features, (start + i++) * FeatureSize);
                if (i != n) throw new InvalidOperationException($"The featurizer gave {i} rows for {n} images.");
            }
        return (features, [], []);
    }

    /// <summary>Images in [0, 1], [n, c, h, w], as the featurizer's input: 3x224x224 in 0..255.</summary>
    private float[] Pixels(ReadOnlySpan<float> images, int n)
    {
        using var scope = NewDisposeScope();
        var shape = Config.ImageShape;
        var x = tensor(images.ToArray(), [n, shape[0], shape[1], shape[2]]);
        if (shape[1] != Side || shape[2] != Side)
            x = nn.functional.interpolate(x, [Side, Side], mode: InterpolationMode.Bilinear, align_corners: false,
                antialias: shape[1] > Side || shape[2] > Side);
        if (shape[0] == 1) x = x.expand(n, Channels, Side, Side);
        return (x.clamp(0, 1) * 255).contiguous().data<float>().ToArray();
    }

    public string Identity()
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var file in ModelFiles) hash.AppendData(File.ReadAllBytes(Path.Combine(folder, file)));
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }
}
