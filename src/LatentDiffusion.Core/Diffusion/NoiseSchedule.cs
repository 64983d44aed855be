
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
/// that samplers can form ratios of alpha-bars without loss. It knows no engine: the conversions below run on any
/// <see cref="ISampleArray{TSelf}"/>.
/// </summary>
public sealed class NoiseSchedule
{
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

    /// <summary>
    /// The noise that takes <paramref name="x0"/> to <paramref name="xt"/> at timestep <paramref name="t"/>: (x_t -
    /// sqrt(abar) x0) / sqrt(1 - abar).
    /// </summary>
    public TArray NoiseFor<TArray>(TArray xt, TArray x0, int t) where TArray : class, ISampleArray<TArray> =>
        (xt - Math.Sqrt(AlphaBars[t]) * x0) / Math.Sqrt(1 - AlphaBars[t]);

    /// <summary>
    /// Turns a network output under <paramref name="objective"/> into the implied (x0, eps) pair at a single timestep
    /// <paramref name="t"/>, which is all a sampler needs: the one place that knows what each objective means.
    /// </summary>
    public (TArray X0, TArray Eps) Interpret<TArray>(DiffusionObjective objective, TArray output, TArray xt, int t)
        where TArray : class, ISampleArray<TArray>
    {
        double a = Math.Sqrt(AlphaBars[t]), b = Math.Sqrt(1 - AlphaBars[t]);
        return objective switch
        {
            DiffusionObjective.Epsilon => ((xt - b * output) / a, output),
            DiffusionObjective.Sample => (output, (xt - a * output) / b),
            DiffusionObjective.Velocity => (a * xt - b * output, b * xt + a * output),
            _ => throw new ArgumentOutOfRangeException(nameof(objective), objective, "Unknown objective."),
        };
    }
}
