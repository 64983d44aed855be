using LatentDiffusion.Data;
using LatentDiffusion.Diffusion;
using LatentDiffusion.Diffusion.Samplers;
using LatentDiffusion.Metrics;
using LatentDiffusion.MLNet.Denoising;
using LatentDiffusion.Models;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace LatentDiffusion.Tests.MLNet;

/// <summary>
/// Seed 001's system: an MLP denoiser learns the point clouds with each objective, well enough to pass statistical
/// checks against fresh samples of the true distribution; guidance puts conditional samples on the requested component.
/// The tolerances are stated in units of the true data's standard deviation per dimension; moments compare 8,000
/// points with 8,000 (the parabola's heavy-tailed y makes smaller samples' variances too noisy to judge), the energy
/// distance 2,000 with 2,000. Epsilon prediction pairs with the linear schedule: the cosine schedule's near-zero
/// final signal-to-noise ratio magnifies an epsilon model's errors by 1 / sqrt(alpha-bar) at the first steps.
/// </summary>
public class VectorDiffusionTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("ld-vectors-").FullName;
    private readonly MLContext ml = new(1);

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private const int Samples = 8000;

    private LatentDiffusionTransformer Fit(ToyDataSet set, DiffusionObjective objective, DiffusionLossKind loss, LossWeighting weighting, bool labelled = false, int rows = 30_000, int epochs = 15) =>
        ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions
        {
            InputColumnName = "Features", LabelColumnName = labelled ? "Label" : null, Classes = 4, Width = 64, Depth = 3, Timesteps = 200,
            Schedule = objective == DiffusionObjective.Epsilon ? NoiseScheduleKind.Linear : NoiseScheduleKind.Cosine,
            Objective = objective, Loss = loss, LossWeighting = weighting, Epochs = epochs, BatchSize = 256, EmaDecay = 0.99,
            Sampling = new SamplingOptions { Sampler = new DdimSampler { Steps = 40 }, BatchSize = 512 },
        }).Fit(ml.Data.LoadToyData(set, rows, seed: 1));

    private static (double MeanError, double CovarianceError, double EnergyDistance) Check(float[] samples, ToyDataSet set)
    {
        int dims = ToyData.Dimensions(set);
        var (truth, _) = ToyData.Generate(set, Samples, seed: 77);
        var (tm, tc) = PointCloudStatistics.Moments(truth, dims);
        var (gm, gc) = PointCloudStatistics.Moments(samples, dims);
        var std = Enumerable.Range(0, dims).Select(d => Math.Sqrt(tc[d, d])).ToArray();
        double meanError = Enumerable.Range(0, dims).Max(d => Math.Abs(gm[d] - tm[d]) / std[d]);
        double covarianceError = 0;
        for (int i = 0; i < dims; i++)
            for (int j = 0; j < dims; j++) covarianceError = Math.Max(covarianceError, Math.Abs(gc[i, j] - tc[i, j]) / (std[i] * std[j]));
        float[] Scaled(float[] rows) => rows.Select((v, k) => (float)(v / std[k % dims])).ToArray();
        return (meanError, covarianceError, PointCloudStatistics.EnergyDistance(Scaled(samples), Scaled(truth), dims));
    }

    private static float[] Unconditional(LatentDiffusionTransformer model) =>
        model.Sample(Enumerable.Repeat(-1, Samples).ToArray(), Enumerable.Range(0, Samples).Select(i => 10_000L + i).ToArray());

    [Theory]
    [InlineData(DiffusionObjective.Sample, DiffusionLossKind.Huber, LossWeighting.SnrDifference)]   // seed 001
    [InlineData(DiffusionObjective.Epsilon, DiffusionLossKind.MeanSquaredError, LossWeighting.None)]
    [InlineData(DiffusionObjective.Velocity, DiffusionLossKind.MeanSquaredError, LossWeighting.None)]
    public void An_mlp_learns_the_parabola_with_each_objective(DiffusionObjective objective, DiffusionLossKind loss, LossWeighting weighting)
    {
        var model = Fit(ToyDataSet.Parabola, objective, loss, weighting);
        Assert.Equal(DenoiserKind.Mlp, model.Config.Denoiser.Kind);
        Assert.NotEmpty(model.Config.DataShift);   // raw vectors are standardised (Auto), and samples mapped back
        var (meanError, covarianceError, energy) = Check(Unconditional(model), ToyDataSet.Parabola);
        Assert.True(meanError <= 0.1, $"mean error {meanError:F3}");
        Assert.True(covarianceError <= 0.2, $"covariance error {covarianceError:F3}");
        Assert.True(energy <= 0.02, $"energy distance {energy:F4}");
    }

    [Fact]
    public void An_mlp_learns_the_moons_and_circles()
    {
        var model = Fit(ToyDataSet.MoonsAndCircles, DiffusionObjective.Velocity, DiffusionLossKind.MeanSquaredError, LossWeighting.None);
        var samples = Unconditional(model);
        var (meanError, covarianceError, energy) = Check(samples, ToyDataSet.MoonsAndCircles);
        Assert.True(meanError <= 0.1, $"mean error {meanError:F3}");
        Assert.True(covarianceError <= 0.2, $"covariance error {covarianceError:F3}");
        Assert.True(energy <= 0.02, $"energy distance {energy:F4}");
        // Half or more of the points lie within 0.1 of a component (the data's noise is 0.01; a small, briefly trained
        // model is blurrier than the example app's, which puts 95% there), and the inner circle of radius 0.1 exists.
        double near = Enumerable.Range(0, Samples).Count(i => ToyData.NearestComponent(samples.AsSpan(4 * i, 4)).Distance <= 0.1) / (double)Samples;
        Assert.True(near >= 0.5, $"{near:P0} of the points within 0.1 of a component");
        double inner = Enumerable.Range(0, Samples).Count(i => Math.Sqrt(samples[4 * i + 2] * samples[4 * i + 2] + samples[4 * i + 3] * samples[4 * i + 3]) < 0.3) / (double)Samples;
        Assert.InRange(inner, 0.35, 0.65);
    }

    [Fact]
    public void Guidance_puts_conditional_samples_on_the_requested_component()
    {
        var model = Fit(ToyDataSet.MoonsAndCircles, DiffusionObjective.Velocity, DiffusionLossKind.MeanSquaredError, LossWeighting.None, labelled: true);
        var labels = Enumerable.Range(0, 800).Select(i => i % 4).ToArray();
        var seeds = Enumerable.Range(0, 800).Select(i => 500L + i).ToArray();
        double Share(double guidance)
        {
            var sampling = model.Sampling;
            sampling.GuidanceScale = guidance;
            var samples = model.WithSampling(sampling).Sample(labels, seeds);
            return labels.Where((label, i) => ToyData.NearestComponent(samples.AsSpan(4 * i, 4)) is var c && c.Label == label && c.Distance <= 0.1).Count() / 800.0;
        }
        double unconditional = Share(0), conditional = Share(1), guided = Share(3);
        Assert.InRange(unconditional, 0, 0.4);                       // about 1 in 4 by chance
        Assert.True(conditional >= 0.8, $"conditional {conditional:P0}");
        Assert.True(guided >= conditional - 0.02, $"guided {guided:P0} against conditional {conditional:P0}");
    }

    [Fact]
    public void A_vector_model_saves_and_loads_bit_identically()
    {
        var model = Fit(ToyDataSet.MoonsAndCircles, DiffusionObjective.Sample, DiffusionLossKind.Huber, LossWeighting.SnrDifference, labelled: true, rows: 2000, epochs: 2);
        var requests = ml.Data.LoadFromEnumerable(Enumerable.Range(0, 20).Select(i => new LabelSeed { Label = i % 5 - 1, Seed = i }));
        string path = Path.Combine(folder, "vectors.zip");
        ml.Model.Save(model, requests.Schema, path);
        var fresh = new MLContext(3);
        fresh.ComponentCatalog.RegisterLatentDiffusion();
        var loaded = (LatentDiffusionTransformer)fresh.Model.Load(path, out _);
        Assert.Equal(model.Config.DataShift, loaded.Config.DataShift);
        Assert.Equal(model.Transform(requests).GetColumn<float[]>("GeneratedLatent").ToArray(), loaded.Transform(requests).GetColumn<float[]>("GeneratedLatent").ToArray());
    }

    private sealed class LabelSeed
    {
        public int Label { get; set; }
        public long Seed { get; set; }
    }
}
