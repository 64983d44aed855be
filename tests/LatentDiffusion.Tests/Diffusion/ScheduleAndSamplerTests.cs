using LatentDiffusion.Diffusion;
using LatentDiffusion.Diffusion.Samplers;
using LatentDiffusion.Models;
using LatentDiffusion.Models.Denoisers;
using static TorchSharp.torch;

namespace LatentDiffusion.Tests.Diffusion;

public class ScheduleAndSamplerTests
{
    [Theory]
    [InlineData(NoiseScheduleKind.Linear)]
    [InlineData(NoiseScheduleKind.Cosine)]
    public void Alpha_bar_decreases_strictly_from_near_one_to_near_zero(NoiseScheduleKind kind)
    {
        var schedule = new NoiseSchedule(kind, 1000);
        for (int t = 1; t < 1000; t++) Assert.True(schedule.AlphaBars[t] < schedule.AlphaBars[t - 1], $"t = {t}");
        Assert.InRange(schedule.AlphaBars[0], 0.99, 1.0);
        Assert.InRange(schedule.AlphaBars[999], 0, 1e-3);
        Assert.Equal(1.0, schedule.AlphaBar(-1));
    }

    [Fact]
    public void Linear_schedule_has_the_ddpm_betas_and_still_ends_in_noise_with_fewer_steps()
    {
        var schedule = new NoiseSchedule(NoiseScheduleKind.Linear, 1000);
        Assert.Equal(1e-4, schedule.Betas[0], 12);
        Assert.Equal(2e-2, schedule.Betas[999], 12);
        Assert.InRange(new NoiseSchedule(NoiseScheduleKind.Linear, 100).AlphaBars[99], 0, 1e-3);
    }

    [Theory]
    [InlineData(100)]
    [InlineData(700)]
    public void Forward_process_has_the_moments_of_q_xt_given_x0(int t)
    {
        var schedule = new NoiseSchedule(NoiseScheduleKind.Cosine, 1000);
        using var scope = NewDisposeScope();
        using var generator = new Generator(3);
        var x0 = full([200_000], 1.5f);
        var xt = schedule.AddNoise(x0, randn([200_000], generator: generator), full([200_000], t, dtype: int64));
        double a = schedule.AlphaBars[t];

        // Standard errors at n = 200,000: mean ~0.002, variance ~0.003.
        Assert.InRange(xt.mean().item<float>() - Math.Sqrt(a) * 1.5, -0.01, 0.01);
        Assert.InRange(xt.var().item<float>() - (1 - a), -0.015, 0.015);
    }

    [Fact]
    public void Objectives_recover_x0_and_eps_from_their_targets()
    {
        var schedule = new NoiseSchedule(NoiseScheduleKind.Linear, 1000);
        using var scope = NewDisposeScope();
        var x0 = randn(4, 3);
        var eps = randn(4, 3);
        int t = 400;
        var xt = schedule.AddNoise(x0, eps, full([4], t, dtype: int64));
        foreach (var objective in Enum.GetValues<DiffusionObjective>())
        {
            var target = schedule.Target(objective, x0, eps, full([4], t, dtype: int64));
            var (x0Hat, epsHat) = schedule.Interpret(objective, new TorchArray(target), new TorchArray(xt), t);
            Assert.True(x0Hat.Value.allclose(x0, rtol: 1e-3, atol: 1e-3), $"{objective} x0");
            Assert.True(epsHat.Value.allclose(eps, rtol: 1e-3, atol: 1e-3), $"{objective} eps");
        }
    }

    [Fact]
    public void Min_snr_weighting_turns_eps_and_v_errors_into_the_same_capped_x0_error()
    {
        var schedule = new NoiseSchedule(NoiseScheduleKind.Linear, 1000);
        using var scope = NewDisposeScope();
        using var generator = new Generator(5);
        var t = tensor(new long[] { 10, 300, 900 });   // SNR far above, near and far below the cap
        var x0 = randn([3, 4, 2, 2], generator: generator);
        var eps = randn([3, 4, 2, 2], generator: generator);
        var xt = schedule.AddNoise(x0, eps, t);
        var wrongX0 = x0 + 0.1f * randn([3, 4, 2, 2], generator: generator);
        const double gamma = 5;
        // The x0-space loss the weighting stands for: mean over samples of min(SNR, gamma) * mean squared x0 error.
        var snr = schedule.Snr(t);
        double expected = (snr.clamp_max(gamma) * (wrongX0 - x0).square().flatten(1).mean([1])).mean().item<float>();
        foreach (var objective in new[] { DiffusionObjective.Epsilon, DiffusionObjective.Velocity })
        {
            // The prediction that implies wrongX0 at each sample's own t.
            var predictions = Enumerable.Range(0, 3).Select(i =>
            {
                int ti = (int)t[i].item<long>();
                double a = Math.Sqrt(schedule.AlphaBars[ti]), b = Math.Sqrt(1 - schedule.AlphaBars[ti]);
                var x = xt[i]; var w = wrongX0[i];
                var impliedEps = (x - a * w) / b;
                return objective == DiffusionObjective.Epsilon ? impliedEps : a * impliedEps - b * w;
            }).ToArray();
            var loss = new DiffusionLoss(DiffusionLossKind.MeanSquaredError, LossWeighting.MinSnr, gamma).Compute(objective, schedule, stack(predictions), schedule.Target(objective, x0, eps, t), t).item<float>();
            Assert.Equal(expected, loss, expected * 1e-3);
        }
        // Without the weighting it is the plain MSE.
        var plain = new DiffusionLoss(DiffusionLossKind.MeanSquaredError).Compute(DiffusionObjective.Epsilon, schedule, eps + 1, eps, t).item<float>();
        Assert.Equal(1.0, plain, 1e-6);
    }

    [Fact]
    public void The_loss_and_its_weighting_are_chosen_apart_from_the_objective()
    {
        var schedule = new NoiseSchedule(NoiseScheduleKind.Linear, 1000);
        using var scope = NewDisposeScope();
        var t = tensor(new long[] { 10, 300, 900 });
        var target = zeros(3, 4);
        var prediction = tensor(new float[] { 0.5f, -0.5f, 2, -2, 0.1f, 0.1f, 0.1f, 0.1f, 3, 0, 0, 0 }, [3, 4]);
        // Huber with threshold 1: x^2 / 2 inside, |x| - 1/2 outside; per sample: (0.125 + 0.125 + 1.5 + 1.5) / 4, 0.005, 2.5 / 4.
        double[] huber = [3.25 / 4, 0.005, 2.5 / 4];
        double[] squared = [(0.25 + 0.25 + 4 + 4) / 4, 0.01, 9.0 / 4];
        float Loss(DiffusionLossKind kind, double gamma, DiffusionObjective objective) =>
            new DiffusionLoss(kind, gamma > 0 ? LossWeighting.MinSnr : LossWeighting.None, gamma > 0 ? gamma : 5).Compute(objective, schedule, prediction, target, t).item<float>();
        Assert.Equal(huber.Average(), Loss(DiffusionLossKind.Huber, 0, DiffusionObjective.Sample), 1e-6);
        Assert.Equal(squared.Average(), Loss(DiffusionLossKind.MeanSquaredError, 0, DiffusionObjective.Sample), 1e-6);
        // Seed 001's x0 objective: Huber weighted by min(SNR, 5) per sample.
        var snr = schedule.AlphaBars.Select(a => a / (1 - a)).ToArray();
        double weighted = new[] { 10, 300, 900 }.Select((ti, i) => Math.Min(snr[ti], 5) * huber[i]).Average();
        Assert.Equal(weighted, Loss(DiffusionLossKind.Huber, 5, DiffusionObjective.Sample), weighted * 1e-5);
    }

    [Fact]
    public void Seed_001s_weighting_measures_huber_between_weighted_x0_and_its_weighted_prediction()
    {
        var schedule = new NoiseSchedule(NoiseScheduleKind.Linear, 200);
        using var scope = NewDisposeScope();
        var t = tensor(new long[] { 0, 1, 50, 199 });
        var x0 = tensor(new float[] { 1, 2, 3, 4, 5, 6, 7, 8 }, [4, 2]);
        var x0Hat = x0 + tensor(new float[] { 0.3f, -0.2f, 0.1f, 0.1f, -1, 2, 0.05f, 0 }, [4, 2]);
        double Weight(int ti)
        {
            int s = Math.Max(ti, 1);
            double before = schedule.AlphaBars[s - 1] / (1 - schedule.AlphaBars[s - 1]), now = schedule.AlphaBars[s] / (1 - schedule.AlphaBars[s]);
            return Math.Sqrt((before - now) / 2);
        }
        static double Huber(double d) => Math.Abs(d) <= 1 ? d * d / 2 : Math.Abs(d) - 0.5;
        double expected = 0;
        var diffs = (x0Hat - x0).data<float>().ToArray();
        long[] ts = [0, 1, 50, 199];
        for (int i = 0; i < 8; i++) expected += Huber(Weight((int)ts[i / 2]) * diffs[i]) / 8;
        Assert.Equal(Weight(1), Weight(0));   // t = 0 borrows t = 1's weight: SNR(-1) is infinite
        var loss = new DiffusionLoss(DiffusionLossKind.Huber, LossWeighting.SnrDifference).Compute(DiffusionObjective.Sample, schedule, x0Hat, x0, t).item<float>();
        Assert.Equal(expected, loss, expected * 1e-4);

        // Predicting epsilon, the same weighting measures the implied x0 error: eps errors scale by sqrt((1 - abar) / abar).
        var eps = randn([4, 2]);
        var xt = schedule.AddNoise(x0, eps, t);
        var impliedEps = stack(Enumerable.Range(0, 4).Select(i =>
        {
            double a = Math.Sqrt(schedule.AlphaBars[ts[i]]), b = Math.Sqrt(1 - schedule.AlphaBars[ts[i]]);
            return (xt[i] - a * x0Hat[i]) / b;
        }).ToArray());
        var viaEps = new DiffusionLoss(DiffusionLossKind.Huber, LossWeighting.SnrDifference).Compute(DiffusionObjective.Epsilon, schedule, impliedEps, eps, t).item<float>();
        Assert.Equal(expected, viaEps, expected * 1e-3);
    }

    [Fact]
    public void Strided_timesteps_are_descending_distinct_and_end_at_zero()
    {
        var steps = SamplerTimesteps.Strided(1000, 50);
        Assert.Equal(50, steps.Length);
        Assert.Equal(999, steps[0]);
        Assert.Equal(0, steps[^1]);
        Assert.True(steps.Zip(steps.Skip(1)).All(p => p.First > p.Second));
    }

    [Fact]
    public void Ddim_with_a_perfect_denoiser_lands_on_x0()
    {
        // With the true x0 the implied eps is exact, so every DDIM step stays on the same trajectory.
        var schedule = new NoiseSchedule(NoiseScheduleKind.Linear, 1000);
        var sampler = new DdimSampler { Steps = 20 };
        using var scope = NewDisposeScope();
        var x0 = randn(8, 4);
        var x = schedule.AddNoise(x0, randn(8, 4), full([8], 999, dtype: int64));
        var result = sampler.Sample(schedule, new TorchArray(x), (xt, t) => schedule.Interpret(DiffusionObjective.Sample, new TorchArray(x0), xt, t),
            () => throw new InvalidOperationException());
        Assert.True(result.Value.allclose(x0, rtol: 1e-3, atol: 1e-3));
    }

    private static DiffusionModel TinyModel(int classes = 3, bool labelSensitive = false)
    {
        manual_seed(5);
        var config = new DiffusionModelConfig
        {
            Denoiser = new DenoiserConfig { DataShape = [2, 4, 4], Width = 8, Classes = classes }, Schedule = NoiseScheduleKind.Linear, Timesteps = 100,
        };
        var network = DenoiserNetworks.Create(config.Denoiser, CPU);
        // An untrained UNet starts as the zero predictor (zeroed output conv), which would make every label and guidance
        // scale look alike; a small random output layer lets the class embedding reach the prediction.
        if (labelSensitive)
            using (no_grad())
                foreach (var (name, p) in network.named_parameters())
                    if (name.StartsWith("output")) p.normal_(0, 0.05);
        return new DiffusionModel(config, network, null, CPU);
    }

    [Theory]
    [InlineData(typeof(DdimSampler))]
    [InlineData(typeof(DdpmSampler))]
    public void The_same_seed_gives_the_same_sample_whatever_its_batch(Type kind)
    {
        var model = TinyModel();
        var options = new SamplingOptions { Sampler = TestSamplers.For(kind, steps: 10) };

        var alone = model.Sample([1], [42], options);
        var inBatch = model.Sample([0, 1, 2], [7, 42, 9], options);
        var again = model.Sample([1], [42], options);
        var otherSeed = model.Sample([1], [43], options);

        Assert.Equal(alone, again);
        Assert.Equal(32, alone.Length);
        for (int i = 0; i < 32; i++) Assert.Equal(alone[i], inBatch[32 + i], 4);
        Assert.NotEqual(alone, otherSeed);
    }

    [Fact]
    public void Guidance_scale_zero_equals_the_unconditional_path()
    {
        var model = TinyModel(labelSensitive: true);
        var guidedZero = model.Sample([0, 2], [1, 2], new SamplingOptions { Sampler = new DdimSampler { Steps = 8 }, GuidanceScale = 0 });
        var unconditional = model.Sample([-1, -1], [1, 2], new SamplingOptions { Sampler = new DdimSampler { Steps = 8 }, GuidanceScale = 1 });
        Assert.Equal(unconditional, guidedZero);
        Assert.NotEqual(unconditional, model.Sample([0, 2], [1, 2], new SamplingOptions { Sampler = new DdimSampler { Steps = 8 }, GuidanceScale = 1 }));
    }

    [Fact]
    public void Guidance_applies_only_inside_its_noise_band()
    {
        var model = TinyModel(labelSensitive: true);
        float[] Run(double scale, double low = 0, double high = 1) =>
            model.Sample([0, 2], [1, 2], new SamplingOptions { Sampler = new DdimSampler { Steps = 10 }, GuidanceScale = scale, GuidanceMinNoise = low, GuidanceMaxNoise = high });
        var conditional = Run(1);
        var guided = Run(3);
        Assert.NotEqual(conditional, guided);
        Assert.Equal(conditional, Run(3, 0, 0.005));      // no step has noise level t/T that low: never guided
        Assert.Equal(guided, Run(3, 0, 1));               // the whole range: every step guided
        var band = Run(3, 0.5, 1);
        Assert.NotEqual(conditional, band);
        Assert.NotEqual(guided, band);
        Assert.Equal(Run(0), Run(0, 0.5, 1));              // scale 0 stays unconditional throughout
    }

    [Fact]
    public void Bfloat16_sampling_is_seeded_close_to_float32_and_leaves_the_float32_network_alone()
    {
        var model = TinyModel(labelSensitive: true);
        var options = new SamplingOptions { Sampler = new DdimSampler { Steps = 8 }, GuidanceScale = 2 };
        var bf16 = options.Clone();
        bf16.Precision = SamplingPrecision.BFloat16;
        var full = model.Sample([0, 2], [1, 2], options);
        var reduced = model.Sample([0, 2], [1, 2], bf16);

        Assert.Equal(reduced, model.Sample([0, 2], [1, 2], bf16));
        Assert.NotEqual(full, reduced);                                      // the bfloat16 network really ran
        double error = full.Zip(reduced, (a, b) => Math.Abs(a - b)).Average(), size = full.Average(a => Math.Abs(a));
        Assert.InRange(error / size, 0, 0.05);                               // bfloat16 keeps about 3 significant digits
        Assert.Equal(full, model.Sample([0, 2], [1, 2], options));           // the float32 weights were copied, not converted
    }

    [Fact]
    public void Bad_sampling_settings_fail_clearly()
    {
        var model = TinyModel();
        var steps = Assert.Throws<ArgumentOutOfRangeException>(() => model.Sample([0], [1], new SamplingOptions { Sampler = new DdimSampler { Steps = -3 } }));
        Assert.Contains("Steps", steps.Message);
        Assert.Contains("-3", steps.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => model.Sample([0], [1], new SamplingOptions { Sampler = new DdimSampler { Steps = 101 } }));
        Assert.Throws<ArgumentOutOfRangeException>(() => model.Sample([0], [1], new SamplingOptions { GuidanceScale = double.NaN }));
        var band = Assert.Throws<ArgumentOutOfRangeException>(() => model.Sample([0], [1], new SamplingOptions { GuidanceMinNoise = 0.8, GuidanceMaxNoise = 0.2 }));
        Assert.Contains("GuidanceMinNoise", band.Message);
    }
}
