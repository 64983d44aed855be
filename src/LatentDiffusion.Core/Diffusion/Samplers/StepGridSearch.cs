using LatentDiffusion.Diffusion.Guidance;

namespace LatentDiffusion.Diffusion.Samplers;

/// <summary>One grid the search tried: the sampler with its explicit timesteps, its network passes per sample and its loss.</summary>
/// <param name="Sampler">The sampler, with <see cref="DiffusionSampler.Timesteps"/> set to the grid.</param>
/// <param name="Passes">Network passes per sample (guidance and autoguidance passes included).</param>
/// <param name="Loss">The loss the search minimised (mean squared distance to the teacher's samples).</param>
public sealed record StepGridTrial(DiffusionSampler Sampler, int Passes, double Loss);

/// <summary>
/// Learns where a few-step sampler should evaluate the network, against a many-step teacher (the discrete form of
/// LD3, Tong et al. 2025, "Learning to discretize denoising diffusion ODEs"): the teacher's samples for a set of
/// request seeds are the target, and the search moves the timesteps of the student's explicit grid, one at a time by
/// shrinking amounts, while the mean squared distance between the student's samples for the same seeds and the
/// teacher's falls. Both start from the same noise, so the distance measures the solver's error, not sampling noise.
/// The result is a sampler with an explicit <see cref="DiffusionSampler.Timesteps"/> grid: it saves, loads and exports
/// like any other, and both engines run it. Engine-free: the caller's loss function samples.
/// </summary>
/// <param name="schedule">The model's noise schedule.</param>
/// <param name="classes">The model's classes (0: unconditional), for counting guidance passes.</param>
/// <param name="maxPasses">Network passes per sample the student may spend, guidance included.</param>
public sealed class StepGridSearch(NoiseSchedule schedule, int classes, int maxPasses)
{
    /// <summary>The moves tried at each position, as fractions of the schedule's length, largest first.</summary>
    private static readonly double[] Moves = [0.064, 0.016, 0.004, 0.001];

    /// <summary>Every grid whose loss was computed, in order.</summary>
    public List<StepGridTrial> Trials { get; } = [];

    /// <summary>
    /// The best grid of each step count from 1 to the pass budget that fits the budget, for
    /// <paramref name="template"/>'s sampler and guidance; <paramref name="loss"/> gives a candidate's distance to the
    /// teacher. Returns the lowest-loss trial, or null when no grid fits the budget.
    /// </summary>
    public StepGridTrial? Search(SamplingOptions template, Func<SamplingOptions, double> loss)
    {
        ArgumentNullException.ThrowIfNull(template);
        ArgumentNullException.ThrowIfNull(loss);
        OptionChecks.InRange(maxPasses, 1, 1000, nameof(maxPasses), nameof(StepGridSearch));
        StepGridTrial? best = null;
        for (int steps = 1; steps <= maxPasses; steps++)
        {
            int[]? start = FitBudget(template, (template.Sampler with { Steps = steps, Timesteps = null }).Grid(schedule));
            if (start is null) continue;
            var trial = Descend(template, start, loss);
            if (best is null || trial.Loss < best.Loss) best = trial;
        }
        return best;
    }

    /// <summary>Network passes per sample of <paramref name="grid"/> under the template's guidance.</summary>
    public int Passes(SamplingOptions template, int[] grid)
    {
        var sampler = template.Sampler with { Timesteps = grid };
        var (main, weak) = new GuidancePlan(With(template, sampler), classes).Passes(sampler, schedule);
        return main + weak;
    }

    private static SamplingOptions With(SamplingOptions template, DiffusionSampler sampler)
    {
        var options = template.Clone();
        options.Sampler = sampler;
        return options;
    }

    /// <summary>
    /// The grid moved, if it must be, to fit the pass budget: timesteps where guidance adds passes move just outside
    /// the guidance bands, nearest edge first, as long as the grid stays descending. Null when that cannot be done.
    /// </summary>
    private int[]? FitBudget(SamplingOptions template, int[] grid)
    {
        var plan = new GuidancePlan(With(template, template.Sampler with { Timesteps = grid }), classes);
        for (int guard = 0; guard < grid.Length && Passes(template, grid) > maxPasses; guard++)
        {
            int i = Array.FindIndex(grid, t => plan.KeysAt(t, schedule.Timesteps).Count > 1);
            if (i < 0) return null;
            int below = grid[i], above = grid[i];
            while (below >= 0 && plan.KeysAt(below, schedule.Timesteps).Count > 1) below--;
            while (above < schedule.Timesteps && plan.KeysAt(above, schedule.Timesteps).Count > 1) above++;
            var moved = new[] { below, above }.Where(t => t >= 0 && t < schedule.Timesteps)
                .Select(t => grid.Select((g, j) => j == i ? t : g).ToArray()).Where(Descending).ToList();
            if (moved.Count == 0) return null;
            grid = moved.MinBy(g => Math.Abs(g[i] - grid[i]))!;
        }
        return Passes(template, grid) <= maxPasses ? grid : null;
    }

    private static bool Descending(int[] grid) => grid.Zip(grid.Skip(1)).All(p => p.First > p.Second);

    /// <summary>Coordinate descent from <paramref name="grid"/>: each timestep in turn, by shrinking moves, while the loss falls.</summary>
    private StepGridTrial Descend(SamplingOptions template, int[] grid, Func<SamplingOptions, double> loss)
    {
        var best = Evaluate(template, grid, loss);
        foreach (double fraction in Moves)
        {
            int move = Math.Max(1, (int)Math.Round(fraction * schedule.Timesteps));
            for (bool improved = true; improved;)
            {
                improved = false;
                for (int i = 0; i < grid.Length; i++)
                    foreach (int direction in (int[])[1, -1])
                    {
                        var candidate = grid.ToArray();
                        candidate[i] = Math.Clamp(candidate[i] + direction * move, 0, schedule.Timesteps - 1);
                        if (candidate[i] == grid[i] || !Descending(candidate) || Passes(template, candidate) > maxPasses) continue;
                        var trial = Evaluate(template, candidate, loss);
                        if (trial.Loss >= best.Loss) continue;
                        (best, grid, improved) = (trial, candidate, true);
                    }
            }
        }
        return best;
    }

    private StepGridTrial Evaluate(SamplingOptions template, int[] grid, Func<SamplingOptions, double> loss)
    {
        var sampler = template.Sampler with { Steps = grid.Length, Timesteps = grid };
        var trial = new StepGridTrial(sampler, Passes(template, grid), loss(With(template, sampler)));
        Trials.Add(trial);
        return trial;
    }
}
