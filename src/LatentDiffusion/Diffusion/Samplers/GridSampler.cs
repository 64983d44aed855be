using static TorchSharp.torch;

namespace LatentDiffusion.Diffusion;

/// <summary>
/// What every sampler here shares: a schedule and a descending grid of timesteps, the last step ending at the clean
/// sample, one evaluation per step unless a sampler says otherwise, and no noise unless it says so.
/// </summary>
public abstract class GridSampler : IDiffusionSampler
{
    private readonly int[] timesteps;

    /// <summary>A sampler over <paramref name="timesteps"/>, descending, on <paramref name="schedule"/>.</summary>
    protected GridSampler(NoiseSchedule schedule, int[] timesteps)
    {
        Schedule = schedule;
        this.timesteps = timesteps;
    }

    /// <summary>The schedule the grid lies on.</summary>
    protected NoiseSchedule Schedule { get; }

    /// <inheritdoc/>
    public IReadOnlyList<int> Timesteps => timesteps;

    /// <inheritdoc/>
    public virtual IReadOnlyList<int> Evaluations => timesteps;

    /// <inheritdoc/>
    public virtual bool IsStochastic => false;

    /// <summary>The timestep step <paramref name="i"/> ends at: the next on the grid, or -1 (the clean sample) after the last.</summary>
    protected int Next(int i) => i + 1 < timesteps.Length ? timesteps[i + 1] : -1;

    /// <summary>
    /// The grid's steps in order: the step's index, the timestep it starts from and the one it ends at (-1: the clean
    /// sample). Each step runs inside its own dispose scope, closed when the next step begins (or the loop ends): what a
    /// step keeps must leave it (<see cref="Carry.Replace"/> or <c>MoveToOuterDisposeScope</c>).
    /// </summary>
    protected IEnumerable<(int Index, int From, int To)> Steps()
    {
        for (int i = 0; i < timesteps.Length; i++)
        {
            using var scope = NewDisposeScope();
            yield return (i, timesteps[i], Next(i));
        }
    }

    /// <inheritdoc/>
    public abstract Tensor Sample(Tensor xT, DenoiseFunction denoise, NoiseSource noise, Action<int, Tensor, Tensor>? onStep = null);
}
