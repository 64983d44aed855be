
namespace LatentDiffusion.Diffusion.Samplers;

/// <summary>
/// UniPC with B(h) = e^-h - 1 ("bh2"; Zhao et al. 2023, "UniPC: A unified predictor-corrector framework for fast
/// sampling of diffusion models", algorithms 2 and 3) on data predictions, second-order predictor. In the paper's
/// notation, from timestep s0 to t with h = lambda_t - lambda_s0 and m the data predictions:
/// <code>
/// predictor UniP-2:  x_t = (sigma_t / sigma_s0) x_s0 - alpha_t (e^-h - 1) m_s0 - alpha_t B(h) rho_p D1,   rho_p = 1/2
/// corrector UniC-2:  x_t^c = (sigma_t / sigma_s0) x_s0 - alpha_t (e^-h - 1) m_s0 - alpha_t B(h) (rho_1 D1 + rho_2 (m_t - m_s0))
/// </code>
/// with D1 = (m_s1 - m_s0) / r1 from the step before, r1 = (lambda_s1 - lambda_s0) / h, and (rho_1, rho_2) solving the
/// order conditions R rho = b of algorithm 3. The corrector uses m_t, the evaluation at the predicted x_t that the
/// next predictor needs anyway: one evaluation per step, one order higher. The first step has no history (order 1,
/// corrector rho = 1/2); the last, to sigma = 0, is first order and lands on the prediction.
/// </summary>
[Sampler("UniPc")]
public sealed record UniPcSampler : SolverSampler
{
    /// <inheritdoc/>
    public override TArray Sample<TArray>(NoiseSchedule schedule, TArray xT, DenoiseFunction<TArray> denoise, Func<TArray> noise,
        Action<int, TArray, TArray>? onStep = null)
    {
        var grid = Grid(schedule);
        var x = xT;
        TArray? last = null, m0 = null, m1 = null;   // the sample at the previous step; the predictions at the previous two steps
        int order = 0;
        try
        {
            foreach (var (i, t, s) in Walk<TArray>(grid))
            {
                var (m, _) = denoise(x, t);
                if (last is not null)
                    x = Carry.Replace(x, Correct(schedule, last, m, m0!, m1, grid[i - 1], i >= 2 ? grid[i - 2] : -1, t, order));
                onStep?.Invoke(i, x, m);
                m1?.Release();
                m1 = m0;
                m0 = m.Alias().Keep();   // our own handle: the denoiser's arrays are not ours to free
                order = Math.Min(Math.Min(2, grid.Length - i), i + 1);
                var next = s < 0 ? m.Alias() : Predict(schedule, x, m0, order == 2 ? m1 : null, order == 2 ? grid[i - 1] : -1, t, s);
                last = Carry.Replace(last, x.Alias());
                x = Carry.Replace(x, next);
            }
            return x;
        }
        finally
        {
            last?.Release();
            m0?.Release();
            m1?.Release();
        }
    }

    /// <summary>UniP-2 (or UniP-1 without <paramref name="previous"/>) from <paramref name="s0"/> to <paramref name="t"/>.</summary>
    private static TArray Predict<TArray>(NoiseSchedule schedule, TArray x, TArray current, TArray? previous, int s1, int s0, int t)
        where TArray : class, ISampleArray<TArray>
    {
        double h = schedule.LogSnr(t) - schedule.LogSnr(s0), alphaT = schedule.Alpha(t), phi = Math.Exp(-h) - 1;
        var result = schedule.Sigma(t) / schedule.Sigma(s0) * x - alphaT * phi * current;
        if (previous is null) return result;
        double r1 = (schedule.LogSnr(s1) - schedule.LogSnr(s0)) / h;
        return result - alphaT * phi * 0.5 / r1 * (previous - current);
    }

    /// <summary>
    /// UniC at <paramref name="t"/> for a step of <paramref name="order"/> from <paramref name="s0"/>, with the
    /// prediction <paramref name="mt"/> there.
    /// </summary>
    private static TArray Correct<TArray>(NoiseSchedule schedule, TArray last, TArray mt, TArray ms0, TArray? ms1, int s0, int s1, int t, int order)
        where TArray : class, ISampleArray<TArray>
    {
        double h = schedule.LogSnr(t) - schedule.LogSnr(s0), hh = -h, alphaT = schedule.Alpha(t);
        double phi1 = Math.Exp(hh) - 1, bh = phi1;
        var result = schedule.Sigma(t) / schedule.Sigma(s0) * last - alphaT * phi1 * ms0;
        if (order == 1 || ms1 is null) return result - alphaT * bh * 0.5 * (mt - ms0);
        // Algorithm 3's order conditions for K = 2: R = [[1, 1], [r1, 1]], b_k = k! h phi_(k+1)(h) / B(h).
        double r1 = (schedule.LogSnr(s1) - schedule.LogSnr(s0)) / h;
        double phi2 = phi1 / hh - 1, phi3 = phi2 / hh - 0.5;
        double b1 = phi2 / bh, b2 = 2 * phi3 / bh;
        double rho1 = (b1 - b2) / (1 - r1), rho2 = b1 - rho1;
        return result - alphaT * bh * (rho1 / r1 * (ms1 - ms0) + rho2 * (mt - ms0));
    }
}
