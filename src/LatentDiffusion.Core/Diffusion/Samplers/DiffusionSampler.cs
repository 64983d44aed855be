using System.Text.Json.Serialization;

namespace LatentDiffusion.Diffusion.Samplers;

/// <summary>The denoiser as a sampler sees it: x_t at timestep t to the clean sample and the noise it implies.</summary>
/// <remarks>
/// Guidance, the objective's interpretation and clipping are already applied. The arrays belong to the step that
/// asked for them (its <see cref="ISampleArray{TSelf}.OpenScope"/>); keep one beyond it with
/// <see cref="ISampleArray{TSelf}.Alias"/> and <see cref="ISampleArray{TSelf}.Keep"/>.
/// </remarks>
public delegate (TArray X0, TArray Eps) DenoiseFunction<TArray>(TArray xt, int t) where TArray : class, ISampleArray<TArray>;

/// <summary>
/// A reverse process, and its settings: from noise at the first timestep of its grid to a clean sample, calling the
/// denoiser where it needs to. A sampler knows the schedule and nothing about networks or engines: it is arithmetic over
/// <see cref="ISampleArray{TSelf}"/>, so both engines run the same code. It owns its loop, so a solver that evaluates
/// twice per step or keeps a history of predictions is written as naturally as DDIM.
/// </summary>
/// <remarks>
/// A new sampler is one class (a record deriving from this one, with its own settings as init properties and a
/// <see cref="SamplerAttribute"/> naming it) and one registration (<see cref="SamplerRegistry.Register{TSampler}"/>;
/// the built-in ones are registered already). Its name and settings are what model files and exported folders store.
/// </remarks>
[JsonConverter(typeof(SamplerJsonConverter))]
public abstract record DiffusionSampler
{
    /// <summary>Number of denoising steps, 1..T. Default 50. Ignored when <see cref="Timesteps"/> is given.</summary>
    public int Steps { get; init; } = 50;

    /// <summary>
    /// An explicit grid: the timesteps the steps start from, distinct and descending, each in [0, T); the last step ends
    /// at the clean sample. Null (default): the sampler places <see cref="Steps"/> steps itself. A grid learned for a
    /// model, or read from an exported folder, is given here.
    /// </summary>
    public int[]? Timesteps { get; init; }

    /// <summary>The name model files store (<see cref="SamplerAttribute"/>).</summary>
    [JsonIgnore]
    public string Name => SamplerRegistry.NameOf(GetType());

    /// <summary>Whether <see cref="Sample{TArray}"/> draws fresh noise after the start.</summary>
    [JsonIgnore]
    public virtual bool IsStochastic => false;

    /// <summary>
    /// The timesteps the steps start from on <paramref name="schedule"/>, most to least noisy: <see cref="Timesteps"/>
    /// when given, else the sampler's own placement of <see cref="Steps"/> steps.
    /// </summary>
    public int[] Grid(NoiseSchedule schedule) => Timesteps is { } grid ? [.. grid] : PlaceSteps(schedule);

    /// <summary>Where this sampler places <see cref="Steps"/> steps by itself.</summary>
    protected abstract int[] PlaceSteps(NoiseSchedule schedule);

    /// <summary>
    /// The timesteps at which <see cref="Sample{TArray}"/> calls the denoiser, in call order: one per step for most
    /// samplers. Network pass counts, FLOP reports and benchmarks are computed from this list.
    /// </summary>
    public virtual IReadOnlyList<int> Evaluations(NoiseSchedule schedule) => Grid(schedule);

    /// <summary>
    /// Checks every setting against a schedule of <paramref name="timesteps"/> steps, naming it; derived samplers add
    /// their own settings' checks.
    /// </summary>
    public virtual void Validate(int timesteps)
    {
        // A model file must be able to name it: an application's sampler is registered before it is used.
        _ = SamplerRegistry.NameOf(GetType());
        string owner = GetType().Name;
        if (Timesteps is null)
        {
            OptionChecks.InRange(Steps, 1, timesteps, nameof(Steps), owner, "the schedule's timesteps");
            return;
        }
        CheckGrid(Timesteps, timesteps, nameof(Timesteps), owner);
    }

    /// <summary>
    /// Checks an explicit grid of timesteps on a schedule of <paramref name="timesteps"/> steps: at least one, each in
    /// [0, T), descending; the refusal names <paramref name="owner"/>.<paramref name="option"/>.
    /// </summary>
    public static void CheckGrid(int[] grid, int timesteps, string option, string owner)
    {
        ArgumentNullException.ThrowIfNull(grid);
        if (grid.Length == 0)
            throw new ArgumentOutOfRangeException(option, "[]", $"{owner}.{option} must hold at least one timestep, or be null.");
        for (int i = 0; i < grid.Length; i++)
        {
            int t = grid[i];
            if (t < 0 || t >= timesteps)
                throw new ArgumentOutOfRangeException(option, t, $"{owner}.{option}[{i}] must be a timestep in [0, {timesteps - 1}] of the schedule, got {t}.");
            if (i > 0 && t >= grid[i - 1])
                throw new ArgumentOutOfRangeException(option, t, $"{owner}.{option} must descend: entry {i} is {t}, after {grid[i - 1]} at entry {i - 1}.");
        }
    }

    /// <summary>
    /// Checks every setting against <paramref name="schedule"/> itself, where a setting depends on more than its length
    /// (a solver's log-SNR floor); by default the same as <see cref="Validate(int)"/>.
    /// </summary>
    public virtual void Validate(NoiseSchedule schedule)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        Validate(schedule.Timesteps);
    }

    /// <summary>
    /// Runs the reverse process on <paramref name="schedule"/> from <paramref name="xT"/>, which the sampler owns (and
    /// releases) from here on, and returns the clean sample in the caller's scope. <paramref name="noise"/> gives fresh
    /// standard normal noise shaped like the batch, each sample's from its own generator. <paramref name="onStep"/>, when
    /// given, sees each step's index, x_t and predicted x0 (valid only during the call). Memory stays flat in the number
    /// of steps.
    /// </summary>
    public abstract TArray Sample<TArray>(NoiseSchedule schedule, TArray xT, DenoiseFunction<TArray> denoise, Func<TArray> noise,
        Action<int, TArray, TArray>? onStep = null) where TArray : class, ISampleArray<TArray>;

    /// <summary>
    /// The steps of <paramref name="grid"/> in order: the step's index, the timestep it starts from and the one it ends at
    /// (-1: the clean sample). Each step runs inside its own scope (<see cref="ISampleArray{TSelf}.OpenScope"/>), closed
    /// when the next step begins or the loop ends: what a step keeps must leave it (<see cref="Carry.Replace{TArray}"/>).
    /// </summary>
    protected static IEnumerable<(int Index, int From, int To)> Walk<TArray>(int[] grid) where TArray : class, ISampleArray<TArray>
    {
        for (int i = 0; i < grid.Length; i++)
        {
            using var scope = TArray.OpenScope();
            yield return (i, grid[i], i + 1 < grid.Length ? grid[i + 1] : -1);
        }
    }
}
