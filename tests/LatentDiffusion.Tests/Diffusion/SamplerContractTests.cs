using LatentDiffusion.Diffusion;
using static TorchSharp.torch;

namespace LatentDiffusion.Tests.Diffusion;

/// <summary>
/// The contract every sampler passes (diffusers' SchedulerCommonTest, for our loop-owning samplers), and the order of
/// convergence of each ODE solver on data whose exact denoiser and exact probability-flow ODE solution are known in
/// closed form: Gaussian data.
/// </summary>
public class SamplerContractTests
{
    public static TheoryData<SamplerKind, TimestepSpacing> Every()
    {
        var data = new TheoryData<SamplerKind, TimestepSpacing>();
        foreach (var kind in Enum.GetValues<SamplerKind>())
            foreach (var spacing in kind is SamplerKind.Ddim or SamplerKind.Ddpm ? [TimestepSpacing.Time] : Enum.GetValues<TimestepSpacing>())
                data.Add(kind, spacing);
        return data;
    }

    private static IDiffusionSampler Create(SamplerKind kind, TimestepSpacing spacing, int steps, NoiseScheduleKind schedule = NoiseScheduleKind.Cosine) =>
        Samplers.Create(new SamplingOptions { Sampler = kind, Steps = steps, Spacing = spacing, Eta = 0.5 }, new NoiseSchedule(schedule, 1000));

    [Theory]
    [MemberData(nameof(Every))]
    public void Calls_the_denoiser_exactly_at_its_declared_evaluations_and_returns_the_samples_shape(SamplerKind kind, TimestepSpacing spacing)
    {
        var schedule = new NoiseSchedule(NoiseScheduleKind.Cosine, 1000);
        var sampler = Create(kind, spacing, 7);
        var calls = new List<int>();
        int noises = 0;
        using var scope = NewDisposeScope();
        var result = sampler.Sample(randn(3, 2, 4),
            (xt, t) =>
            {
                calls.Add(t);
                Assert.Equal(new long[] { 3, 2, 4 }, xt.shape);
                return schedule.Interpret(DiffusionObjective.Sample, zeros_like(xt), xt, t);
            },
            () => { noises++; return randn(3, 2, 4); });

        Assert.Equal(new long[] { 3, 2, 4 }, result.shape);
        Assert.Equal(sampler.Evaluations, calls);
        Assert.Equal(Samplers.Evaluations(kind, 7), calls.Count);
        Assert.Equal(7, sampler.Timesteps.Count);
        Assert.Equal(sampler.Timesteps[0], calls[0]);
        Assert.True(sampler.Timesteps.Zip(sampler.Timesteps.Skip(1)).All(p => p.First > p.Second), string.Join(", ", sampler.Timesteps));
        Assert.Equal(0, sampler.Timesteps[^1]);
        // Noise only from a stochastic sampler, and never on the step that lands on the clean sample.
        Assert.Equal(sampler.IsStochastic ? 6 : 0, noises);
    }

    [Theory]
    [MemberData(nameof(Every))]
    public void A_point_mass_comes_back_as_itself(SamplerKind kind, TimestepSpacing spacing)
    {
        // When every prediction of x0 is the same point, the clean sample must be that point, whatever the path.
        var schedule = new NoiseSchedule(NoiseScheduleKind.Linear, 1000);
        var sampler = Samplers.Create(new SamplingOptions { Sampler = kind, Steps = 9, Spacing = spacing }, schedule);
        using var scope = NewDisposeScope();
        var point = tensor(new float[] { 0.25f, -1.5f, 3f }).view(1, 3).expand(4, 3);
        var result = sampler.Sample(randn(4, 3), (xt, t) => schedule.Interpret(DiffusionObjective.Sample, point, xt, t), () => randn(4, 3));
        Assert.True(result.allclose(point, rtol: 1e-5, atol: 1e-5), result.ToString(TorchSharp.TensorStringStyle.Julia));
    }

    [Theory]
    [MemberData(nameof(Every))]
    public void Memory_stays_flat_in_the_number_of_steps(SamplerKind kind, TimestepSpacing spacing)
    {
        var schedule = new NoiseSchedule(NoiseScheduleKind.Cosine, 1000);
        long Live(int steps)
        {
            using var scope = NewDisposeScope();
            var result = Create(kind, spacing, steps).Sample(randn(2, 5), (xt, t) => schedule.Interpret(DiffusionObjective.Epsilon, xt * 0.1, xt, t), () => randn(2, 5));
            return scope.DisposablesCount;
        }
        Assert.Equal(Live(4), Live(24));
    }

    /// <summary>
    /// Data N(mu, s^2) per element. Its exact denoiser is E[x0 | x_t] = mu + alpha s^2 / c^2 (x_t - alpha mu), with
    /// c^2 = alpha^2 s^2 + sigma^2 the marginal variance, and the probability-flow ODE keeps (x_t - alpha_t mu) / c_t
    /// constant. Every sampler's last step returns the denoiser's prediction at the smallest timestep, so the exact
    /// answer is the denoiser applied to the exact ODE solution there. float64 throughout, so that the float32 floor
    /// does not hide the higher orders.
    /// </summary>
    private static double Error(SamplerKind kind, int steps, NoiseScheduleKind scheduleKind, TimestepSpacing spacing = TimestepSpacing.Time)
    {
        const double mu = 0.3, s = 0.6;
        var schedule = new NoiseSchedule(scheduleKind, 1000);
        var sampler = Samplers.Create(new SamplingOptions { Sampler = kind, Steps = steps, Spacing = spacing }, schedule);
        double C(int t) => Math.Sqrt(schedule.AlphaBar(t) * s * s + 1 - schedule.AlphaBar(t));
        Tensor X0(Tensor xt, int t) => mu + schedule.Alpha(t) * s * s / (C(t) * C(t)) * (xt - schedule.Alpha(t) * mu);

        using var scope = NewDisposeScope();
        var generator = new Generator(7);
        var start = randn([256], dtype: float64, generator: generator);
        int first = sampler.Timesteps[0];
        var atZero = schedule.Alpha(0) * mu + C(0) * (start - schedule.Alpha(first) * mu) / C(first);
        var exact = X0(atZero, 0);
        var result = sampler.Sample(start.clone(), (xt, t) => { var x0 = X0(xt, t); return (x0, schedule.NoiseFor(xt, x0, t)); }, () => throw new InvalidOperationException());
        return (result - exact).abs().max().item<double>();
    }

    [Theory]
    [InlineData(SamplerKind.Ddim, 1.0)]
    [InlineData(SamplerKind.DpmSolverPlusPlus2M, 2.0)]
    [InlineData(SamplerKind.UniPc, 3.0)]
    [InlineData(SamplerKind.Heun, 2.0)]
    public void Each_ode_solver_converges_at_its_order_on_gaussian_data(SamplerKind kind, double order)
    {
        // Steps even in log-SNR, the solvers' own variable (DDIM ignores spacing): measured at 20, 40 and 80 steps,
        // past the first steps' transient. Uniform-time grids reach the same orders only at many more steps, since
        // their log-SNR steps near t = 0 are very uneven (docs/results.md has both).
        foreach (var scheduleKind in new[] { NoiseScheduleKind.Linear, NoiseScheduleKind.Cosine })
        {
            var errors = new[] { 20, 40, 80 }.Select(n => Error(kind, n, scheduleKind, TimestepSpacing.LogSnr)).ToArray();
            var orders = new[] { Math.Log2(errors[0] / errors[1]), Math.Log2(errors[1] / errors[2]) };
            string report = $"{kind} on the {scheduleKind} schedule: errors {string.Join(", ", errors.Select(e => e.ToString("E2")))} at 20, 40, 80 steps, "
                + $"orders {orders[0]:F2} and {orders[1]:F2}, expected {order}";
            Assert.True(orders.All(o => o > order - 0.3 && o < order + 0.5), report);
        }
    }
}
