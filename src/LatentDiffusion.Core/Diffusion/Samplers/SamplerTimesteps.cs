
namespace LatentDiffusion.Diffusion.Samplers;

/// <summary>Where samplers place their steps on the schedule's integer timesteps.</summary>
public static class SamplerTimesteps
{
    /// <summary><paramref name="steps"/> timesteps evenly spread over T-1..0, descending and distinct (DDIM's and DDPM's grid).</summary>
    public static int[] Strided(int timesteps, int steps) => Even(timesteps - 1, steps);

    /// <summary>
    /// The first timestep an ODE solver starts from: the noisiest one whose log-SNR lambda is at least
    /// <paramref name="logSnrFloor"/>. The cosine schedule's last few timesteps, where betas are clipped at 0.999, fall
    /// from lambda = -5 to about -10 in a handful of steps; a step across them is mostly error, and at lambda = -5 the
    /// signal is already 0.7% of the sample (diffusers' lambda_min_clipped; the linear schedule stops at -5.06).
    /// </summary>
    public static int Start(NoiseSchedule schedule, double logSnrFloor)
    {
        int t = schedule.Timesteps - 1;
        while (t > 0 && schedule.LogSnr(t) < logSnrFloor) t--;
        return t;
    }

    /// <summary>
    /// <paramref name="steps"/> descending, distinct timesteps from <paramref name="start"/> to 0, spaced by
    /// <paramref name="spacing"/> and rounded to the nearest timestep in that spacing's variable.
    /// </summary>
    public static int[] Spaced(NoiseSchedule schedule, int start, int steps, TimestepSpacing spacing)
    {
        if (steps < 1) throw new ArgumentOutOfRangeException(nameof(steps), steps, "The number of sampling steps must be at least 1.");
        if (steps > start + 1)
            throw new ArgumentOutOfRangeException(nameof(steps), steps,
                $"The number of sampling steps ({steps}) cannot exceed the {start + 1} timesteps from the first one ({start}) to 0.");
        if (spacing == TimestepSpacing.Time || steps == 1) return Even(start, steps);
        // The spacing variable, decreasing from noise to data: -lambda, or Karras's sigma/alpha to the power 1/rho.
        const double rho = 7;
        double Variable(int t) => spacing == TimestepSpacing.LogSnr
            ? -schedule.LogSnr(t)
            : Math.Pow(schedule.Sigma(t) / schedule.Alpha(t), 1 / rho);
        double high = Variable(start), low = Variable(0);
        var result = new int[steps];
        int t = start;
        for (int i = 0; i < steps; i++)
        {
            double target = high + (low - high) * i / (steps - 1);
            // The variable is monotone in t: walk down to the nearest timestep, then keep the grid distinct and within reach of 0.
            while (t > 0 && Math.Abs(Variable(t - 1) - target) <= Math.Abs(Variable(t) - target)) t--;
            int chosen = Math.Min(t, i == 0 ? start : result[i - 1] - 1);
            result[i] = Math.Max(chosen, steps - 1 - i);
            t = result[i];
        }
        return result;
    }

    private static int[] Even(int start, int steps)
    {
        if (steps < 1) throw new ArgumentOutOfRangeException(nameof(steps), steps, "The number of sampling steps must be at least 1.");
        if (steps > start + 1)
            throw new ArgumentOutOfRangeException(nameof(steps), steps,
                $"The number of sampling steps cannot exceed the {start + 1} timesteps of the schedule.");
        if (steps == 1) return [start];
        return Enumerable.Range(0, steps).Select(i => (int)Math.Round(start * (1 - (double)i / (steps - 1)))).ToArray();
    }
}
