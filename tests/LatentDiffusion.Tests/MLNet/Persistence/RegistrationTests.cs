using LatentDiffusion.Data;
using LatentDiffusion.Diffusion;
using LatentDiffusion.Diffusion.Samplers;
using LatentDiffusion.MLNet;
using LatentDiffusion.MLNet.Denoising;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace LatentDiffusion.Tests.MLNet.Persistence;

/// <summary>
/// Registration that cannot be skipped or lost (issue 42). The catalog methods find their MLContext through ML.NET's
/// explicit <c>IInternalCatalog.Environment</c> and register the loaders there; each package registers its own
/// components whatever the other did; progress reaches <see cref="MLContext.Log"/>. At 148b4f5 the context was not
/// found (a property looked up by name, which ML.NET implements only explicitly), so all of these failed.
/// </summary>
public class RegistrationTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("ld-registration-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private sealed class Row
    {
        public int Label { get; set; }
        public long Seed { get; set; }
    }

    private static IDataView Requests(MLContext ml) =>
        ml.Data.LoadFromEnumerable(Enumerable.Range(0, 6).Select(i => new Row { Label = i % 4, Seed = 100 + i }));

    /// <summary>A tiny conditional model of the 4-d toy points: seconds to fit, and its own ONNX export.</summary>
    private static LatentDiffusionTransformer Fit(MLContext ml) => ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions
    {
        InputColumnName = "Features", LabelColumnName = "Label", Classes = 4, Width = 16, Depth = 2, Timesteps = 50, Epochs = 1,
        BatchSize = 128, OutputColumnName = "Torch", Sampling = new SamplingOptions { Sampler = new DdimSampler { Steps = 3 } },
    }).Fit(ml.Data.LoadToyData(ToyDataSet.MoonsAndCircles, 512, seed: 1));

    private static float[][] Column(IDataView view, string name) => [.. view.GetColumn<float[]>(name)];

    [Fact]
    public void Fit_save_and_load_in_one_context_need_no_registration_call()
    {
        var ml = new MLContext(1);
        var model = Fit(ml);
        var requests = Requests(ml);
        string path = Path.Combine(folder, "model.zip");
        ml.Model.Save(model, requests.Schema, path);
        var loaded = ml.Model.Load(path, out _);
        Assert.Equal(Column(model.Transform(requests), "Torch"), Column(loaded.Transform(requests), "Torch"));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_file_holding_both_kinds_of_generator_loads_after_either_registration_order(bool torchSharpFirst)
    {
        var ml = new MLContext(1);
        var torch = Fit(ml);
        torch.ExportOnnx(Path.Combine(folder, "export"));
        var onnx = ml.Transforms.GenerateWithOnnx(Path.Combine(folder, "export"), outputColumnName: "Onnx");
        var both = new TransformerChain<ITransformer>(torch, onnx);
        var requests = Requests(ml);
        string path = Path.Combine(folder, "both.zip");
        ml.Model.Save(both, requests.Schema, path);

        var fresh = new MLContext(2);
        if (torchSharpFirst)
        {
            fresh.ComponentCatalog.RegisterLatentDiffusion();
            fresh.ComponentCatalog.RegisterLatentDiffusionOnnx();
        }
        else
        {
            fresh.ComponentCatalog.RegisterLatentDiffusionOnnx();
            fresh.ComponentCatalog.RegisterLatentDiffusion();
        }
        var loaded = fresh.Model.Load(path, out _).Transform(Requests(fresh));
        var expected = both.Transform(requests);
        Assert.Equal(Column(expected, "Torch"), Column(loaded, "Torch"));
        Assert.Equal(Column(expected, "Onnx"), Column(loaded, "Onnx"));
    }

    [Fact]
    public void Progress_reaches_the_context_log_through_a_catalog_method()
    {
        var ml = new MLContext(1);
        var messages = new List<string>();
        ml.Log += (_, e) =>
        {
            lock (messages) messages.Add(e.Message);
        };
        Fit(ml);
        lock (messages)
            Assert.Contains(messages, m => m.Contains("LatentDiffusionTrainer", StringComparison.Ordinal) && m.Contains("epoch", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public void A_catalog_without_its_context_is_refused_in_one_sentence()
    {
        var refused = Assert.Throws<InvalidOperationException>(() => LatentDiffusion.MLNet.Persistence.MLNetInternals.EnvironmentOf(new object()));
        Assert.Contains("could not find the MLContext behind Object", refused.Message);
        Assert.Contains("IInternalCatalog.Environment", refused.Message);
    }

    [Fact]
    public void A_missing_ML_NET_member_is_named_with_the_release_and_the_tested_range_in_one_sentence()
    {
        var refused = LatentDiffusion.MLNet.Persistence.MLNetInternals.Incompatible("ModelHeader.ModelVerWritten");
        Assert.Equal("The ML.NET model-format bridge could not find ModelHeader.ModelVerWritten in Microsoft.ML.Core 5.0.1: LatentDiffusion is tested on "
            + "Microsoft.ML 5.0.1 and 6.0.0 (it declares [5.0.1, 7.0.0)), so reference a release in that range.", refused.Message);
    }
}
