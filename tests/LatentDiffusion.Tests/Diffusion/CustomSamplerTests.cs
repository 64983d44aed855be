using LatentDiffusion.Data;
using LatentDiffusion.Diffusion;
using LatentDiffusion.Diffusion.Samplers;
using LatentDiffusion.MLNet.Denoising;
using LatentDiffusion.Onnx;
using Microsoft.ML;

namespace LatentDiffusion.Tests.Diffusion;

/// <summary>
/// A sampler written outside the library (here, in the tests' assembly, as an application would), using only the
/// public contract: registered once, it trains, samples, saves, loads and exports like the built-in ones, and both
/// engines run it.
/// </summary>
public class CustomSamplerTests : IDisposable
{
    /// <summary>
    /// Euler's method on the probability-flow ODE in y = x / alpha against sigma' = sigma / alpha: y_s = y_t +
    /// (sigma'_s - sigma'_t) eps. Algebraically DDIM with eta 0, reached by other arithmetic.
    /// </summary>
    [Sampler("TestEuler")]
    public sealed record EulerSampler : SolverSampler
    {
        public override TArray Sample<TArray>(NoiseSchedule schedule, TArray xT, DenoiseFunction<TArray> denoise, Func<TArray> noise,
            Action<int, TArray, TArray>? onStep = null)
        {
            var x = xT;
            foreach (var (i, t, s) in Walk<TArray>(Grid(schedule)))
            {
                var (x0, eps) = denoise(x, t);
                var next = s < 0 ? x0.Alias()
                    : schedule.Alpha(s) * (x / schedule.Alpha(t) + (schedule.Sigma(s) / schedule.Alpha(s) - schedule.Sigma(t) / schedule.Alpha(t)) * eps);
                onStep?.Invoke(i, x, x0);
                x = Carry.Replace(x, next);
            }
            return x;
        }
    }

    /// <summary>A sampler nobody registered.</summary>
    [Sampler("TestUnregistered")]
    public sealed record UnregisteredSampler : SolverSampler
    {
        public override TArray Sample<TArray>(NoiseSchedule schedule, TArray xT, DenoiseFunction<TArray> denoise, Func<TArray> noise,
            Action<int, TArray, TArray>? onStep = null) => xT;
    }

    private readonly string folder = Directory.CreateTempSubdirectory("ld-custom-sampler-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private static (MLContext Ml, IDataView Points, LatentDiffusionTransformer Model) Train(DiffusionSampler sampler)
    {
        var ml = new MLContext(1);
        var points = ml.Data.LoadToyData(ToyDataSet.Parabola, rows: 512);
        var model = ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions
        {
            InputColumnName = "Features", LabelColumnName = null, Epochs = 2, Width = 16, Timesteps = 100,
            Sampling = new SamplingOptions { Sampler = sampler, BatchSize = 64 },
        }).Fit(points);
        return (ml, points, model);
    }

    [Fact]
    public void A_registered_sampler_of_an_application_trains_saves_loads_and_runs_on_both_engines()
    {
        SamplerRegistry.Register<EulerSampler>();
        var (ml, points, model) = Train(new EulerSampler { Steps = 12, Spacing = TimestepSpacing.LogSnr });
        int[] labels = [.. Enumerable.Repeat(-1, 40)];
        long[] seeds = [.. Enumerable.Range(0, 40).Select(i => 500L + i)];
        var euler = model.Sample(labels, seeds);

        // The same ODE step as DDIM's: the same samples to float rounding, on the same grid.
        var grid = new EulerSampler { Steps = 12, Spacing = TimestepSpacing.LogSnr }.Grid(new NoiseSchedule(NoiseScheduleKind.Linear, 100));
        var ddim = model.WithSampling(new SamplingOptions { Sampler = new DdimSampler { Timesteps = grid }, BatchSize = 64 }).Sample(labels, seeds);
        Assert.True(euler.Zip(ddim, (a, b) => Math.Abs(a - b)).Max() <= 1e-4 * euler.Max(Math.Abs), "Euler in y against DDIM");

        // Saved with its name and settings, loaded in a fresh context.
        string path = Path.Combine(folder, "model.zip");
        ml.Model.Save(model, points.Schema, path);
        var other = new MLContext(1);
        other.ComponentCatalog.RegisterLatentDiffusion();
        var loaded = (LatentDiffusionTransformer)other.Model.Load(path, out _);
        Assert.IsType<EulerSampler>(loaded.Sampling.Sampler);
        Assert.Equal(euler, loaded.Sample(labels, seeds));

        // Exported, and run by the ONNX Runtime engine with the same code.
        model.ExportOnnx(Path.Combine(folder, "onnx"));
        Assert.Contains("\"TestEuler\"", File.ReadAllText(Path.Combine(folder, "onnx", "latent-diffusion.json")));
        using var onnx = OnnxGenerator.Load(Path.Combine(folder, "onnx"));
        Assert.IsType<EulerSampler>(onnx.Sampling.Sampler);
        var deployed = onnx.Sample(labels, seeds);
        Assert.True(euler.Zip(deployed, (a, b) => Math.Abs(a - b)).Max() <= 1e-3 * euler.Max(Math.Abs), "TorchSharp against ONNX Runtime");
    }

    [Fact]
    public void An_unregistered_sampler_is_refused_by_name_before_training()
    {
        var e = Assert.Throws<InvalidOperationException>(() => Train(new UnregisteredSampler { Steps = 4 }));
        Assert.Contains("UnregisteredSampler is not registered", e.Message);
        Assert.Contains("SamplerRegistry.Register<UnregisteredSampler>()", e.Message);
    }
}
