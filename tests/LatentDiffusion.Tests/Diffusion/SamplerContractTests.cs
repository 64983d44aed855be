using LatentDiffusion.Diffusion;
using LatentDiffusion.Diffusion.Samplers;
using LatentDiffusion.Onnx;
using static TorchSharp.torch;

namespace LatentDiffusion.Tests.Diffusion;

/// <summary>
/// The contract every sampler passes (diffusers' SchedulerCommonTest, for our loop-owning samplers), on each engine's
/// arrays: the samplers are written once, and this class runs them over TorchSharp tensors and over ONNX Runtime's
/// float arrays alike.
/// </summary>
public abstract class SamplerContract<TArray> where TArray : class, ISampleArray<TArray>
{
    /// <summary>Standard normal values, [rows, ..shape].</summary>
    protected abstract TArray Random(int rows, int[] shape, int seed);

    /// <summary><paramref name="row"/> repeated <paramref name="rows"/> times, each of <paramref name="shape"/>.</summary>
    protected abstract TArray Repeat(float[] row, int rows, int[] shape);

    protected abstract float[] Values(TArray array);

    public static TheoryData<Type, TimestepSpacing> Every()
    {
        var data = new TheoryData<Type, TimestepSpacing>();
        foreach (var type in TestSamplers.All)
            foreach (var spacing in typeof(SolverSampler).IsAssignableFrom(type) ? Enum.GetValues<TimestepSpacing>() : [TimestepSpacing.Time])
                data.Add(type, spacing);
        return data;
    }

    [Theory]
    [MemberData(nameof(Every))]
    public void Calls_the_denoiser_exactly_at_its_declared_evaluations_and_returns_the_samples_shape(Type type, TimestepSpacing spacing)
    {
        var schedule = new NoiseSchedule(NoiseScheduleKind.Cosine, 1000);
        var sampler = TestSamplers.For(type, 7, spacing, eta: 0.5);
        var calls = new List<int>();
        int noises = 0;
        using var scope = NewDisposeScope();
        var result = sampler.Sample(schedule, Random(3, [2, 4], 1),
            (xt, t) =>
            {
                calls.Add(t);
                Assert.Equal(24, Values(xt).Length);
                return schedule.Interpret(DiffusionObjective.Sample, 0.0 * xt, xt, t);
            },
            () => { noises++; return Random(3, [2, 4], 2 + noises); });

        var grid = sampler.Grid(schedule);
        Assert.Equal(24, Values(result).Length);
        Assert.Equal(sampler.Evaluations(schedule), calls);
        Assert.Equal(7, grid.Length);
        Assert.Equal(grid[0], calls[0]);
        Assert.True(grid.Zip(grid.Skip(1)).All(p => p.First > p.Second), string.Join(", ", grid));
        Assert.Equal(0, grid[^1]);
        // Noise only from a stochastic sampler, and never on the step that lands on the clean sample.
        Assert.Equal(sampler.IsStochastic ? 6 : 0, noises);
    }

    [Theory]
    [MemberData(nameof(Every))]
    public void A_point_mass_comes_back_as_itself(Type type, TimestepSpacing spacing)
    {
        // When every prediction of x0 is the same point, the clean sample must be that point, whatever the path.
        var schedule = new NoiseSchedule(NoiseScheduleKind.Linear, 1000);
        var sampler = TestSamplers.For(type, 9, spacing);
        using var scope = NewDisposeScope();
        float[] row = [0.25f, -1.5f, 3f];
        var result = Values(sampler.Sample(schedule, Random(4, [3], 1), (xt, t) => schedule.Interpret(DiffusionObjective.Sample, Repeat(row, 4, [3]), xt, t),
            () => Random(4, [3], 2)));
        for (int i = 0; i < result.Length; i++) Assert.Equal(row[i % 3], result[i], 4);
    }

    [Theory]
    [MemberData(nameof(Every))]
    public void An_explicit_grid_is_the_grid_the_sampler_visits(Type type, TimestepSpacing spacing)
    {
        var schedule = new NoiseSchedule(NoiseScheduleKind.Cosine, 100);
        var sampler = TestSamplers.For(type, 50, spacing) with { Timesteps = [90, 41, 7, 0] };
        var calls = new List<int>();
        using var scope = NewDisposeScope();
        sampler.Sample(schedule, Random(2, [3], 1), (xt, t) =>
        {
            calls.Add(t);
            return schedule.Interpret(DiffusionObjective.Sample, 0.0 * xt, xt, t);
        }, () => Random(2, [3], 2));
        Assert.Equal([90, 41, 7, 0], sampler.Grid(schedule));
        Assert.Equal(sampler.Evaluations(schedule), calls);
        Assert.Equal(90, calls[0]);
    }
}

/// <summary>The sampler contract over TorchSharp tensors, with what only this engine can show: memory and float64 orders.</summary>
public class TorchSamplerContractTests : SamplerContract<TorchArray>
{
    protected override TorchArray Random(int rows, int[] shape, int seed)
    {
        using var generator = new Generator((ulong)seed);
        return new(randn([rows, .. shape.Select(d => (long)d)], generator: generator));
    }

    protected override TorchArray Repeat(float[] row, int rows, int[] shape) =>
        new(tensor(row).view([1, .. shape.Select(d => (long)d)]).expand([rows, .. shape.Select(d => (long)d)]));

    protected override float[] Values(TorchArray array) => array.Value.to_type(float32).flatten().data<float>().ToArray();

    [Theory]
    [MemberData(nameof(Every))]
    public void Memory_stays_flat_in_the_number_of_steps(Type type, TimestepSpacing spacing)
    {
        var schedule = new NoiseSchedule(NoiseScheduleKind.Cosine, 1000);
        long Live(int steps)
        {
            using var scope = NewDisposeScope();
            TestSamplers.For(type, steps, spacing, eta: 0.5).Sample(schedule, Random(2, [5], 1),
                (xt, t) => schedule.Interpret(DiffusionObjective.Epsilon, 0.1 * xt, xt, t), () => Random(2, [5], 3));
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
    private static double Error(Type type, int steps, NoiseScheduleKind scheduleKind, TimestepSpacing spacing = TimestepSpacing.Time)
    {
        const double mu = 0.3, s = 0.6;
        var schedule = new NoiseSchedule(scheduleKind, 1000);
        var sampler = TestSamplers.For(type, steps, spacing);
        double C(int t) => Math.Sqrt(schedule.AlphaBar(t) * s * s + 1 - schedule.AlphaBar(t));
        Tensor X0(Tensor xt, int t) => mu + schedule.Alpha(t) * s * s / (C(t) * C(t)) * (xt - schedule.Alpha(t) * mu);

        using var scope = NewDisposeScope();
        var generator = new Generator(7);
        var start = randn([256], dtype: float64, generator: generator);
        int first = sampler.Grid(schedule)[0];
        var atZero = schedule.Alpha(0) * mu + C(0) * (start - schedule.Alpha(first) * mu) / C(first);
        var exact = X0(atZero, 0);
        var result = sampler.Sample(schedule, new TorchArray(start.clone()), (xt, t) =>
        {
            var x0 = new TorchArray(X0(xt.Value, t));
            return (x0, schedule.NoiseFor(xt, x0, t));
        }, () => throw new InvalidOperationException());
        return (result.Value - exact).abs().max().item<double>();
    }

    [Theory]
    [InlineData(typeof(DdimSampler), 1.0)]
    [InlineData(typeof(DpmSolverPlusPlusSampler), 2.0)]
    [InlineData(typeof(UniPcSampler), 3.0)]
    [InlineData(typeof(HeunSampler), 2.0)]
    public void Each_ode_solver_converges_at_its_order_on_gaussian_data(Type type, double order)
    {
        // Steps even in log-SNR, the solvers' own variable (DDIM ignores spacing): measured at 20, 40 and 80 steps,
        // past the first steps' transient. Uniform-time grids reach the same orders only at many more steps, since
        // their log-SNR steps near t = 0 are very uneven (docs/results.md has both).
        foreach (var scheduleKind in new[] { NoiseScheduleKind.Linear, NoiseScheduleKind.Cosine })
        {
            var errors = new[] { 20, 40, 80 }.Select(n => Error(type, n, scheduleKind, TimestepSpacing.LogSnr)).ToArray();
            var orders = new[] { Math.Log2(errors[0] / errors[1]), Math.Log2(errors[1] / errors[2]) };
            string report = $"{type.Name} on the {scheduleKind} schedule: errors {string.Join(", ", errors.Select(e => e.ToString("E2")))} at 20, 40, 80 "
                + $"steps, orders {orders[0]:F2} and {orders[1]:F2}, expected {order}";
            Assert.True(orders.All(o => o > order - 0.3 && o < order + 0.5), report);
        }
    }

    [Theory]
    [MemberData(nameof(Every))]
    public void Both_engines_run_the_same_sampler_to_float_rounding(Type type, TimestepSpacing spacing)
    {
        // One sampler, one denoiser (the Gaussian's exact one, written over the arithmetic contract), two engines.
        var schedule = new NoiseSchedule(NoiseScheduleKind.Cosine, 1000);
        var sampler = TestSamplers.For(type, 12, spacing, eta: 0.5);
        using var scope = NewDisposeScope();
        var start = Random(8, [2, 3], 5);
        var noise = Enumerable.Range(0, 20).Select(i => Values(Random(8, [2, 3], 100 + i))).ToArray();
        TArray Run<TArray>(TArray xT, Func<float[], TArray> make) where TArray : class, ISampleArray<TArray>
        {
            int draws = 0;
            return sampler.Sample(schedule, xT, (xt, t) =>
            {
                double c2 = schedule.AlphaBar(t) * 0.36 + 1 - schedule.AlphaBar(t);
                var x0 = schedule.Alpha(t) * 0.36 / c2 * xt;
                return (x0, schedule.NoiseFor(xt, x0, t));
            }, () => make(noise[draws++]));
        }
        var hostStart = new HostArray(Values(start), 6, 2);
        var torch = Values(Run(start, v => new TorchArray(tensor(v, [8, 2, 3]))));
        var host = Run(hostStart, v => new HostArray(v, 6, 2)).Values;
        double scale = torch.Max(Math.Abs);
        for (int i = 0; i < torch.Length; i++) Assert.True(Math.Abs(torch[i] - host[i]) <= 1e-5 * scale, $"value {i}: {torch[i]} against {host[i]}");
    }
}

/// <summary>The sampler contract over the ONNX Runtime engine's float arrays.</summary>
public class HostSamplerContractTests : SamplerContract<HostArray>
{
    protected override HostArray Random(int rows, int[] shape, int seed)
    {
        int size = shape.Aggregate(1, (a, b) => a * b);
        var values = new float[rows * size];
        new LatentDiffusion.Runtime.TorchCompatibleNormal(seed).Fill(values);
        return new(values, size, shape[0]);
    }

    protected override HostArray Repeat(float[] row, int rows, int[] shape) =>
        new(Enumerable.Range(0, rows).SelectMany(_ => row).ToArray(), row.Length, shape[0]);

    protected override float[] Values(HostArray array) => array.Values;
}
