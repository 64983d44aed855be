using static TorchSharp.torch;

namespace LatentDiffusion.Diffusion;

/// <summary>The variance schedule of the forward process.</summary>
public enum NoiseScheduleKind
{
    /// <summary>
    /// Betas linear from 1e-4 to 2e-2 at T = 1000 (Ho et al.); for other T both ends scale by 1000 / T, as in Nichol
    /// and Dhariwal, so that x_T is still pure noise.
    /// </summary>
    Linear,
    /// <summary>The cosine alpha-bar of Nichol and Dhariwal (s = 0.008), betas clipped at 0.999.</summary>
    Cosine,
}

/// <summary>
/// The forward process q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I) for timesteps 0..T-1, held in float64 so
/// that samplers can form ratios of alpha-bars without loss.
/// </summary>
public sealed class NoiseSchedule
{
    private readonly Tensor sqrtAlphaBar, sqrtOneMinusAlphaBar;

    /// <summary>Builds a schedule of <paramref name="timesteps"/> steps.</summary>
    public NoiseSchedule(NoiseScheduleKind kind, int timesteps)
    {
        if (timesteps < 2) throw new ArgumentOutOfRangeException(nameof(timesteps), timesteps, "A schedule needs at least 2 timesteps.");
        Kind = kind;
        Timesteps = timesteps;
        Betas = new double[timesteps];
        AlphaBars = new double[timesteps];
        if (kind == NoiseScheduleKind.Linear)
        {
            double scale = 1000.0 / timesteps, first = Math.Min(1e-4 * scale, 0.5), last = Math.Min(2e-2 * scale, 0.999);
            double product = 1;
            for (int t = 0; t < timesteps; t++)
            {
                Betas[t] = first + (last - first) * t / (timesteps - 1);
                product *= 1 - Betas[t];
                AlphaBars[t] = product;
            }
        }
        else
        {
            const double s = 0.008;
            static double F(double u) => Math.Pow(Math.Cos((u + s) / (1 + s) * Math.PI / 2), 2);
            double product = 1;
            for (int t = 0; t < timesteps; t++)
            {
                Betas[t] = Math.Min(1 - F((t + 1.0) / timesteps) / F((double)t / timesteps), 0.999);
                product *= 1 - Betas[t];
                AlphaBars[t] = product;
            }
        }
        // Kept on the CPU and moved to the data's device where used, so one schedule serves every device.
        sqrtAlphaBar = tensor(AlphaBars.Select(Math.Sqrt).ToArray(), device: CPU).to_type(float32);
        sqrtOneMinusAlphaBar = tensor(AlphaBars.Select(a => Math.Sqrt(1 - a)).ToArray(), device: CPU).to_type(float32);
    }

    /// <summary>Which schedule this is.</summary>
    public NoiseScheduleKind Kind { get; }

    /// <summary>T, the number of diffusion steps.</summary>
    public int Timesteps { get; }

    /// <summary>beta_t for t = 0..T-1.</summary>
    public double[] Betas { get; }

    /// <summary>abar_t = prod_{s &lt;= t} (1 - beta_s), decreasing in t.</summary>
    public double[] AlphaBars { get; }

    /// <summary>abar at <paramref name="t"/>, with abar(-1) = 1 (the clean data).</summary>
    public double AlphaBar(int t) => t < 0 ? 1.0 : AlphaBars[t];

    /// <summary>The signal scale alpha_t = sqrt(abar_t); 1 at t = -1 (the clean data).</summary>
    public double Alpha(int t) => Math.Sqrt(AlphaBar(t));

    /// <summary>The noise scale sigma_t = sqrt(1 - abar_t); 0 at t = -1 (the clean data).</summary>
    public double Sigma(int t) => Math.Sqrt(1 - AlphaBar(t));

    /// <summary>
    /// Half the log signal-to-noise ratio, lambda_t = log(alpha_t / sigma_t), the time variable of DPM-Solver and UniPC;
    /// decreasing in t, +infinity at t = -1.
    /// </summary>
    public double LogSnr(int t) => t < 0 ? double.PositiveInfinity : 0.5 * Math.Log(AlphaBars[t] / (1 - AlphaBars[t]));

    /// <summary>Signal-to-noise ratio abar / (1 - abar) at each timestep in <paramref name="t"/>.</summary>
    public Tensor Snr(Tensor t)
    {
        var a = sqrtAlphaBar.to(t.device)[t].square();
        return a / (1 - a);
    }

    private static Tensor Broadcast(Tensor perSample, Tensor like) => perSample.view([perSample.shape[0], .. Enumerable.Repeat(1L, (int)like.dim() - 1)]);

    /// <summary>Samples x_t from q(x_t | x_0) given the noise: sqrt(abar_t) x0 + sqrt(1 - abar_t) eps.</summary>
    public Tensor AddNoise(Tensor x0, Tensor noise, Tensor t)
    {
        var a = Broadcast(sqrtAlphaBar.to(x0.device)[t], x0);
        var b = Broadcast(sqrtOneMinusAlphaBar.to(x0.device)[t], x0);
        return a * x0 + b * noise;
    }

    /// <summary>The regression target of <paramref name="objective"/> for this x0, noise and t.</summary>
    public Tensor Target(DiffusionObjective objective, Tensor x0, Tensor noise, Tensor t) => objective switch
    {
        DiffusionObjective.Epsilon => noise,
        DiffusionObjective.Sample => x0,
        DiffusionObjective.Velocity =>
            Broadcast(sqrtAlphaBar.to(x0.device)[t], x0) * noise - Broadcast(sqrtOneMinusAlphaBar.to(x0.device)[t], x0) * x0,
        _ => throw new ArgumentOutOfRangeException(nameof(objective)),
    };

    /// <summary>
    /// The noise that takes <paramref name="x0"/> to <paramref name="xt"/> at timestep <paramref name="t"/>: (x_t -
    /// sqrt(abar) x0) / sqrt(1 - abar).
    /// </summary>
    public Tensor NoiseFor(Tensor xt, Tensor x0, int t) => (xt - Math.Sqrt(AlphaBars[t]) * x0) / Math.Sqrt(1 - AlphaBars[t]);

    /// <summary>
    /// Turns a network output under <paramref name="objective"/> into the implied (x0, eps) pair at a single timestep
    /// <paramref name="t"/>, which is all a sampler needs.
    /// </summary>
    public (Tensor X0, Tensor Eps) Interpret(DiffusionObjective objective, Tensor output, Tensor xt, int t)
    {
        double a = Math.Sqrt(AlphaBars[t]), b = Math.Sqrt(1 - AlphaBars[t]);
        switch (objective)
        {
            case DiffusionObjective.Epsilon:
                return ((xt - b * output) / a, output);
            case DiffusionObjective.Sample:
                return (output, (xt - a * output) / b);
            case DiffusionObjective.Velocity:
                return (a * xt - b * output, b * xt + a * output);
            default:
                throw new ArgumentOutOfRangeException(nameof(objective));
        }
    }
}
