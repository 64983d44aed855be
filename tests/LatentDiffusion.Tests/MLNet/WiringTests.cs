using LatentDiffusion.MLNet.Autoencoder;
using LatentDiffusion.MLNet.Denoising;
using LatentDiffusion.MLNet.Generation;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace LatentDiffusion.Tests.MLNet;

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
        var parts = vae
            .AppendCacheCheckpoint(ml)
            .Append(ml.Transforms.CopyColumns("Code", "Latent"))
            .Append(diffusion)
            .Fit(train);
        var fittedVae = parts.OfType<VaeEncoderTransformer>().Single();
        var generator = ml.Transforms.GenerateDigits(parts.LastTransformer, fittedVae, new DigitGeneratorOptions { Sampling = TinyModels.Sampling })
            .Fit(models.Requests(1));
        var model = new TransformerChain<DigitGeneratorTransformer>([.. parts, generator]);
        var requests = models.Requests(6);
        var images = TinyModels.Images(model.LastTransformer.Transform(requests));

        string path = Path.Combine(folder, "cached.zip");
        ml.Model.Save(model, train.Schema, path);
        var fresh = new MLContext(1);
        fresh.ComponentCatalog.RegisterLatentDiffusion();
        var loaded = (TransformerChain<ITransformer>)fresh.Model.Load(path, out _);
        Assert.Equal(images, TinyModels.Images(loaded.LastTransformer.Transform(requests)));
        // The generator decodes with the VAE fitted in this chain: its images are the VAE's decodings of the diffusion samples.
        var latents = parts.LastTransformer.Sample([0, 1], [0, 1]);
        // (Sampled in a batch of 2 rather than 6: the convolutions may differ in the last bits.)
        var decoded = fittedVae.Decode(latents, 2);
        Assert.All(decoded.Zip(images.Take(2).SelectMany(i => i)), p => Assert.Equal(p.First, p.Second, 1e-5));
    }

    [Fact]
    public void A_generator_given_the_estimators_fits_them_as_one_estimator_exactly_as_a_chain_of_them_would()
    {
        var ml = new MLContext(1);
        var train = ml.Data.TakeRows(models.Train, 200);
        VaeEncoderEstimator Vae() => ml.Transforms.EncodeToLatent(new VaeEncoderOptions { Epochs = 1, Width = 8, BatchSize = 32, LatentColumnName = "Code" });
        LatentDiffusionTrainer Diffusion() => ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions
        {
            InputColumnName = "Code", Epochs = 1, Width = 8, Timesteps = 50, Sampling = TinyModels.Sampling,
        });
        var options = new DigitGeneratorOptions { Sampling = TinyModels.Sampling, OutputColumnName = "Digit" };

        var composite = ml.Transforms.GenerateDigits(Diffusion(), Vae(), options);
        var generator = composite.Fit(train);
        var parts = Vae().Append(Diffusion()).Fit(train);
        var byHand = ml.Transforms.GenerateDigits(parts.LastTransformer, parts.OfType<VaeEncoderTransformer>().Single(), options).Fit(train);

        Assert.Equal("Code", generator.Vae!.LatentColumnName);
        Assert.NotEmpty(generator.Diffusion.History.Epochs);
        var requests = models.Requests(4);
        Assert.Equal(TinyModels.Images(byHand.Transform(requests), "Digit"), TinyModels.Images(generator.Transform(requests), "Digit"));

        // Saved and loaded alone, the generator keeps its VAE's columns (format version 6).
        string path = Path.Combine(folder, "composite.zip");
        ml.Model.Save(generator, train.Schema, path);
        var fresh = new MLContext(1);
        fresh.ComponentCatalog.RegisterLatentDiffusion();
        var loaded = (DigitGeneratorTransformer)fresh.Model.Load(path, out _);
        Assert.Equal("Code", loaded.Vae!.LatentColumnName);
        Assert.Equal(TinyModels.Images(generator.Transform(requests), "Digit"), TinyModels.Images(loaded.Transform(requests), "Digit"));
    }

    [Fact]
    public void The_chain_of_earlier_versions_that_would_train_twice_is_refused_with_what_replaces_it()
    {
        var ml = new MLContext(1);
        var vae = ml.Transforms.EncodeToLatent();
        var diffusion = ml.Transforms.TrainLatentDiffusion();
        var chain = vae.Append(diffusion).Append(ml.Transforms.GenerateDigits(diffusion, vae));
        // EstimatorChain.Fit asks every estimator for its output schema before it fits any: nothing is trained.
        var e = Assert.Throws<InvalidOperationException>(() => chain.Fit(models.Train));
        Assert.Contains("'GeneratedLatent'", e.Message);
        Assert.Contains("ml.Transforms.GenerateDigits(diffusion, vae).Fit(images)", e.Message);
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
