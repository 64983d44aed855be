using LatentDiffusion.Diffusion;
using LatentDiffusion.Diffusion.Samplers;
using LatentDiffusion.Export;
using LatentDiffusion.MLNet;
using LatentDiffusion.Tests.MLNet;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace LatentDiffusion.Tests.Export;

/// <summary>
/// The ONNX Runtime generator as an ML.NET transformer: lazy Transform, a prediction engine and Save/Load in a fresh
/// context all give the generator's own images for the same requests, rows without a seed column take the full
/// library's row seeds, and bad request columns are refused by name.
/// </summary>
public class OnnxTransformerTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("ld-onnxml-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private sealed class Output
    {
        [VectorType(147)]
        public float[] GeneratedImage { get; set; } = [];
    }

    private sealed class LabelOnly
    {
        public int Label { get; set; }
    }

    private sealed class TextLabel
    {
        public string Label { get; set; } = "";
    }

    [Fact]
    public void Transform_a_prediction_engine_and_a_saved_and_loaded_model_give_the_generators_images()
    {
        var model = OnnxRuntimeTests.Model(DiffusionObjective.Epsilon);
        OnnxExport.Write(folder, model, null, new SamplingOptions { Sampler = new UniPcSampler { Steps = 5 }, GuidanceScale = 2, BatchSize = 2 }, seed: 4);
        var ml = new MLContext(1);
        var requests = new[] { new Request { Label = 1, Seed = 10 }, new Request { Label = -1, Seed = 11 }, new Request { Label = 3, Seed = 12 } };
        var view = ml.Data.LoadFromEnumerable(requests);

        var transformer = ml.Transforms.GenerateWithOnnx(folder);
        var expected = transformer.Generator.Generate(requests.Select(r => r.Label).ToArray(), requests.Select(r => r.Seed).ToArray());
        var column = transformer.Transform(view).GetColumn<float[]>("GeneratedImage").SelectMany(x => x).ToArray();
        Assert.Equal(expected, column);
        var image = transformer.GetOutputSchema(view.Schema)["GeneratedImage"];
        Assert.Equal([3, 7, 7], ShapeAnnotation.Read(image));

        var engine = ml.Model.CreatePredictionEngine<Request, Output>(transformer);
        // One row at a time where Generate ran batches of 2: the same to float rounding (another batch size may take another kernel).
        Assert.True(expected[147..294].Zip(engine.Predict(requests[1]).GeneratedImage, (a, b) => Math.Abs(a - b)).Max() <= 1e-5);

        string path = Path.Combine(folder, "onnx-generator.zip");
        ml.Model.Save(transformer, view.Schema, path);
        var fresh = new MLContext(2);
        fresh.ComponentCatalog.RegisterLatentDiffusionOnnx();
        var loaded = fresh.Model.Load(path, out _);
        Assert.Equal(expected, loaded.Transform(view).GetColumn<float[]>("GeneratedImage").SelectMany(x => x).ToArray());

        // Without a seed column, row i takes seed * 1,000,003 + i, the full library's rule.
        var unseeded = ml.Data.LoadFromEnumerable(requests.Select(r => new LabelOnly { Label = r.Label }).ToArray());
        var rowSeeded = transformer.Generator.Generate([1, -1, 3], [4 * 1_000_003L, 4 * 1_000_003L + 1, 4 * 1_000_003L + 2]);
        Assert.Equal(rowSeeded, transformer.Transform(unseeded).GetColumn<float[]>("GeneratedImage").SelectMany(x => x).ToArray());

        var text = ml.Data.LoadFromEnumerable(new[] { new TextLabel { Label = "one" } });
        var refused = Assert.ThrowsAny<ArgumentException>(() => transformer.Transform(text));
        Assert.Contains("Label", refused.Message);
        var outOfRange = ml.Data.LoadFromEnumerable(new[] { new LabelOnly { Label = 7 } });
        var label = Assert.ThrowsAny<ArgumentException>(() => transformer.Transform(outOfRange).GetColumn<float[]>("GeneratedImage").ToArray());
        Assert.Contains("label 7", label.Message);
    }
}
