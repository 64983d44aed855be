using LatentDiffusion.Diffusion.Guidance;
using LatentDiffusion.Diffusion.Samplers;

namespace LatentDiffusion.Diffusion;

/// <summary>
/// The sampling pipeline, for any engine: networks (<see cref="IDenoiserEngine{TArray}"/>), schedule and guidance wired
/// into the denoise function a sampler runs its own loop over. Each call gathers the predictions the guidance methods
/// need (one batched pass per network), combines them, interprets the objective as (x0, eps) and clips x0 to the
/// training data's range; the samples come back in the data's units (the standardisation undone).
/// </summary>
public static class SamplingLoop
{
    /// <summary>
    /// Samples the batch <paramref name="engine"/> holds, of <paramref name="model"/> on <paramref name="schedule"/> under
    /// <paramref name="options"/> (checked against the model by the caller). <paramref name="onStep"/>, when given, sees
    /// each step's index, x_t and predicted x0 in data units (valid only during the call).
    /// </summary>
    public static TArray Run<TArray>(IDenoiserEngine<TArray> engine, DiffusionProcess model, NoiseSchedule schedule, SamplingOptions options,
        Action<int, TArray, TArray>? onStep = null) where TArray : class, ISampleArray<TArray>
    {
        var denoise = Denoiser(engine, model, schedule, options, new GuidancePlan(options, model.Classes));
        Action<int, TArray, TArray>? inDataUnits = onStep is null ? null : (i, xt, x0) => onStep(i, ToData(model, xt), ToData(model, x0));
        return ToData(model, options.Sampler.Sample(schedule, engine.Noise(), denoise, engine.Noise, inDataUnits));
    }

    /// <summary>
    /// The denoiser as a sampler sees it, in the model's standardised units: every prediction the guidance methods of
    /// <paramref name="plan"/> need at t (one batched pass per network), combined, read as (x0, eps) under the
    /// objective, x0 clipped to the data's range when <paramref name="options"/> says so. Step distillation walks the
    /// teacher with it, so the teacher steps exactly as it samples.
    /// </summary>
    public static DenoiseFunction<TArray> Denoiser<TArray>(IDenoiserEngine<TArray> engine, DiffusionProcess model, NoiseSchedule schedule,
        SamplingOptions options, GuidancePlan plan) where TArray : class, ISampleArray<TArray>
    {
        ArgumentNullException.ThrowIfNull(options);
        bool clip = options.ClipToDataRange && model.DataMin.Length > 0;
        return (x, t) =>
        {
            var output = Guided(engine, plan, x, t, schedule.Timesteps);
            var (x0, eps) = schedule.Interpret(model.Objective, output, x, t);
            if (clip)
            {
                x0 = x0.Clamp(model.DataMin, model.DataMax);
                eps = schedule.NoiseFor(x, x0, t);
            }
            return (x0, eps);
        };
    }

    /// <summary>
    /// The prediction sampling uses at timestep <paramref name="t"/> (of <paramref name="timesteps"/>), in the
    /// objective's units: every prediction the guidance methods of <paramref name="plan"/> need (one batched pass per
    /// network), combined method by method. Guidance distillation trains a network to give it in one pass.
    /// </summary>
    public static TArray Guided<TArray>(IDenoiserEngine<TArray> engine, GuidancePlan plan, TArray x, int t, int timesteps)
        where TArray : class, ISampleArray<TArray>
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(plan);
        var predictions = Predict(engine, plan.KeysAt(t, timesteps), x, t);
        var output = predictions[plan.Basis];
        bool first = true;
        foreach (var method in plan.Methods)
        {
            if (method.IsActiveAt(t, timesteps)) output = method.Combine(output, plan.Basis, predictions, first);
            first = false;
        }
        return output;
    }

    /// <summary>Undoes the data standardisation of <see cref="DiffusionProcess.DataShift"/> (nothing when there is none).</summary>
    public static TArray ToData<TArray>(DiffusionProcess model, TArray x) where TArray : class, ISampleArray<TArray> =>
        model.DataShift.Length == 0 ? x : x.ScaleShift(model.DataScale, model.DataShift);

    /// <summary>The predictions of <paramref name="keys"/>: one pass per network, its requests stacked along the batch in key order.</summary>
    private static Dictionary<PredictionKey, TArray> Predict<TArray>(IDenoiserEngine<TArray> engine, List<PredictionKey> keys, TArray x, int t)
        where TArray : class, ISampleArray<TArray>
    {
        var predictions = new Dictionary<PredictionKey, TArray>();
        foreach (var group in keys.GroupBy(k => k.Network))
        {
            var batch = group.ToList();
            var outputs = engine.Predict(group.Key, x, t, [.. batch.Select(k => k.Conditional)]);
            for (int i = 0; i < batch.Count; i++) predictions[batch[i]] = outputs[i];
        }
        return predictions;
    }
}
