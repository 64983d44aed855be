using LatentDiffusion.MLNet;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace LatentDiffusion.Tests.Components;

/// <summary>How the generator finds its models: given explicitly, whatever stands between them in the chain.</summary>
[Trait("Data", "MNIST")]
public class WiringTests(TinyModels models) : IClassFixture<TinyModels>, IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("ld-wiring-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void A_chain_with_a_cache_checkpoint_and_a_standard_transform_between_our_components_trains_saves_and_loads()
    {
        var ml = new MLContext(1);
        var train = ml.Data.TakeRows(models.Train, 300);
        var vae = ml.Transforms.EncodeToLatent(new VaeEncoderOptions { Epochs = 1, Width = 8, BatchSize = 32 });
        var diffusion = ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions
        {
            InputColumnName = "Code", Epochs = 1, Width = 8, Timesteps = 50, Sampling = TinyModels.Sampling,
        });
        var pipeline = vae
            .AppendCacheCheckpoint(ml)
            .Append(ml.Transforms.CopyColumns("Code", "Latent"))
            .Append(diffusion)
            .Append(ml.Transforms.GenerateDigits(diffusion, vae, new DigitGeneratorOptions { Sampling = TinyModels.Sampling }));
        var model = pipeline.Fit(train);
        var requests = models.Requests(6);
        var images = TinyModels.Images(model.LastTransformer.Transform(requests));

        string path = Path.Combine(folder, "cached.zip");
        ml.Model.Save(model, train.Schema, path);
        var fresh = new MLContext(1);
        fresh.ComponentCatalog.RegisterLatentDiffusion();
        var loaded = (TransformerChain<ITransformer>)fresh.Model.Load(path, out _);
        Assert.Equal(images, TinyModels.Images(loaded.LastTransformer.Transform(requests)));
        // The generator decodes with the VAE fitted in this chain: its images are the VAE's decodings of the diffusion samples.
        var latents = model.OfType<LatentDiffusionTransformer>().Single().Sample([0, 1], [0, 1]);
        // (Sampled in a batch of 2 rather than 6: the convolutions may differ in the last bits.)
        var decoded = model.OfType<VaeEncoderTransformer>().Single().Decode(latents, 2);
        Assert.All(decoded.Zip(images.Take(2).SelectMany(i => i)), p => Assert.Equal(p.First, p.Second, 1e-5));
    }

    [Fact]
    public void A_generator_given_an_unfitted_trainer_says_what_to_do()
    {
        var ml = new MLContext(1);
        var vae = ml.Transforms.EncodeToLatent();
        var diffusion = ml.Transforms.TrainLatentDiffusion();
        var e = Assert.Throws<InvalidOperationException>(() => ml.Transforms.GenerateDigits(diffusion, vae).Fit(models.Requests(2)));
        Assert.Contains("LatentDiffusionTrainer", e.Message);
        Assert.Contains("same chain", e.Message);
    }

    [Fact]
    public void A_generator_from_fitted_transformers_needs_no_chain()
    {
        var generator = models.Context.Transforms.GenerateDigits(models.Diffusion, models.Vae, new DigitGeneratorOptions { Sampling = TinyModels.Sampling })
            .Fit(models.Requests(1));
        Assert.Equal(TinyModels.Images(models.Generator.Transform(models.Requests(5))), TinyModels.Images(generator.Transform(models.Requests(5))));
    }

    [Fact]
    public void A_model_loaded_where_its_gpu_is_missing_falls_back_to_the_cpu_or_says_so()
    {
        if (TorchSharp.torch.cuda.is_available()) return; // on a GPU machine the model would really go to the GPU
        string path = Path.Combine(folder, "generator.zip");
        models.Context.Model.Save(models.Generator, models.Requests(1).Schema, path);

        var fallback = new MLContext(1) { GpuDeviceId = 0, FallbackToCpu = true };
        fallback.ComponentCatalog.RegisterLatentDiffusion();
        var loaded = fallback.Model.Load(path, out _);
        Assert.Equal(TinyModels.Images(models.Generator.Transform(models.Requests(3))), TinyModels.Images(loaded.Transform(models.Requests(3))));

        var strict = new MLContext(1) { GpuDeviceId = 0, FallbackToCpu = false };
        strict.ComponentCatalog.RegisterLatentDiffusion();
        var e = Assert.ThrowsAny<Exception>(() => strict.Model.Load(path, out _));
        var message = e.InnerException?.Message ?? e.Message;
        Assert.Contains("GpuDeviceId is 0", message);
        Assert.Contains("FallbackToCpu", message);
    }
}
