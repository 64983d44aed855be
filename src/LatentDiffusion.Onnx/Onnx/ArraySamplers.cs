namespace LatentDiffusion.Onnx;

/// <summary>
/// The full library's five samplers over flat float arrays, step for step as they run over tensors there (the same
/// formulas, the same grid, the same first- and last-step rules, the same order of noise draws): DDIM, DDPM,
/// DPM-Solver++(2M), UniPC-bh2 and Heun. A denoise call gives (x0, eps) for a batch at one timestep; noise() gives the
/// next standard-normal draw of every request's generator.
/// </summary>
internal sealed class ArraySamplers(double[] alphaBars)
{
    public delegate (float[] X0, float[] Eps) Denoise(float[] x, int t);

    private double AlphaBar(int t) => t < 0 ? 1.0 : alphaBars[t];
    private double Alpha(int t) => Math.Sqrt(AlphaBar(t));
    private double Sigma(int t) => Math.Sqrt(1 - AlphaBar(t));
    private double LogSnr(int t) => t < 0 ? double.PositiveInfinity : 0.5 * Math.Log(alphaBars[t] / (1 - alphaBars[t]));

    /// <summary>a x + b y, element by element.</summary>
    private static float[] Sum(double a, float[] x, double b, float[] y)
    {
        var result = new float[x.Length];
        float fa = (float)a, fb = (float)b;
        for (int i = 0; i < x.Length; i++) result[i] = fa * x[i] + fb * y[i];
        return result;
    }

    /// <summary>x + c (y - z), element by element.</summary>
    private static float[] AddDifference(float[] x, double c, float[] y, float[] z)
    {
        var result = new float[x.Length];
        float fc = (float)c;
        for (int i = 0; i < x.Length; i++) result[i] = x[i] + fc * (y[i] - z[i]);
        return result;
    }

    private static int Next(int[] grid, int i) => i + 1 < grid.Length ? grid[i + 1] : -1;

    public float[] Sample(ExportedSampling settings, float[] xT, Denoise denoise, Func<float[]> noise) => settings.Sampler switch
    {
        "Ddim" => Ddim(settings.Grid, settings.Eta, xT, denoise, noise),
        "Ddpm" => Ddpm(settings.Grid, settings.Variance == "Beta", xT, denoise, noise),
        "DpmSolverPlusPlus2M" => DpmSolverPlusPlus(settings.Grid, xT, denoise),
        "UniPc" => UniPc(settings.Grid, xT, denoise),
        "Heun" => Heun(settings.Grid, xT, denoise),
        var other => throw new InvalidDataException($"Unknown sampler '{other}'."),
    };

    /// <summary>Network evaluations per sample for the grid (Heun evaluates twice per step but the last).</summary>
    public static int Evaluations(ExportedSampling settings) => settings.Sampler == "Heun" ? 2 * settings.Grid.Length - 1 : settings.Grid.Length;

    private float[] Ddim(int[] grid, double eta, float[] x, Denoise denoise, Func<float[]> noise)
    {
        for (int i = 0; i < grid.Length; i++)
        {
            int t = grid[i], s = Next(grid, i);
            var (x0, eps) = denoise(x, t);
            double at = AlphaBar(t), a_s = AlphaBar(s);
            double sigma = eta * Math.Sqrt((1 - a_s) / (1 - at) * (1 - at / a_s));
            var next = Sum(Math.Sqrt(a_s), x0, Math.Sqrt(Math.Max(1 - a_s - sigma * sigma, 0)), eps);
            if (eta > 0 && s >= 0) next = Sum(1, next, sigma, noise());
            x = next;
        }
        return x;
    }

    private float[] Ddpm(int[] grid, bool betaVariance, float[] x, Denoise denoise, Func<float[]> noise)
    {
        for (int i = 0; i < grid.Length; i++)
        {
            int t = grid[i], s = Next(grid, i);
            var (x0, _) = denoise(x, t);
            double at = AlphaBar(t), a_s = AlphaBar(s);
            double alphaStep = at / a_s, betaStep = 1 - alphaStep;
            var next = Sum(Math.Sqrt(a_s) * betaStep / (1 - at), x0, Math.Sqrt(alphaStep) * (1 - a_s) / (1 - at), x);
            if (s >= 0)
            {
                double sigma2 = betaVariance ? betaStep : (1 - a_s) / (1 - at) * betaStep;
                next = Sum(1, next, Math.Sqrt(sigma2), noise());
            }
            x = next;
        }
        return x;
    }

    private float[] DpmSolverPlusPlus(int[] grid, float[] x, Denoise denoise)
    {
        float[]? previousX0 = null;
        double previousLambda = 0;
        for (int i = 0; i < grid.Length; i++)
        {
            int t = grid[i], s = Next(grid, i);
            var (x0, _) = denoise(x, t);
            double lambdaT = LogSnr(t);
            float[] next;
            if (s < 0)
                next = x0;
            else
            {
                double h = LogSnr(s) - lambdaT, alphaS = Alpha(s), phi = Math.Exp(-h) - 1;
                next = Sum(Sigma(s) / Sigma(t), x, -alphaS * phi, x0);
                if (previousX0 is not null)
                {
                    double r = (lambdaT - previousLambda) / h;
                    next = AddDifference(next, -0.5 * alphaS * phi / r, x0, previousX0);
                }
            }
            previousX0 = x0;
            previousLambda = lambdaT;
            x = next;
        }
        return x;
    }

    private float[] Heun(int[] grid, float[] x, Denoise denoise)
    {
        for (int i = 0; i < grid.Length; i++)
        {
            int t = grid[i], s = Next(grid, i);
            var (x0, eps) = denoise(x, t);
            if (s < 0)
            {
                x = x0;
                continue;
            }
            double alphaT = Alpha(t), alphaS = Alpha(s), step = Sigma(s) / alphaS - Sigma(t) / alphaT;
            // y = x / alpha_t; the Euler point alpha_s (y + step eps), then alpha_s (y + step (eps + eps~) / 2).
            var euler = Sum(alphaS / alphaT, x, alphaS * step, eps);
            var (_, epsEuler) = denoise(euler, s);
            var next = new float[x.Length];
            for (int j = 0; j < x.Length; j++)
                next[j] = (float)(alphaS * (x[j] / alphaT + step * 0.5 * (eps[j] + epsEuler[j])));
            x = next;
        }
        return x;
    }

    private float[] UniPc(int[] grid, float[] x, Denoise denoise)
    {
        float[]? last = null, m0 = null, m1 = null;   // the sample at the previous step; the predictions at the previous two steps
        int order = 0;
        for (int i = 0; i < grid.Length; i++)
        {
            int t = grid[i], s = Next(grid, i);
            var (m, _) = denoise(x, t);
            if (last is not null) x = Correct(last, m, m0!, m1, grid[i - 1], i >= 2 ? grid[i - 2] : -1, t, order);
            m1 = m0;
            m0 = m;
            order = Math.Min(Math.Min(2, grid.Length - i), i + 1);
            var next = s < 0 ? m : Predict(x, m0, order == 2 ? m1 : null, order == 2 ? grid[i - 1] : -1, t, s);
            last = x;
            x = next;
        }
        return x;
    }

    /// <summary>UniP-2 (UniP-1 without <paramref name="previous"/>) from <paramref name="s0"/> to <paramref name="t"/>.</summary>
    private float[] Predict(float[] x, float[] current, float[]? previous, int s1, int s0, int t)
    {
        double h = LogSnr(t) - LogSnr(s0), alphaT = Alpha(t), phi = Math.Exp(-h) - 1;
        var result = Sum(Sigma(t) / Sigma(s0), x, -alphaT * phi, current);
        if (previous is null) return result;
        double r1 = (LogSnr(s1) - LogSnr(s0)) / h;
        return AddDifference(result, -alphaT * phi * 0.5 / r1, previous, current);
    }

    /// <summary>
    /// UniC at <paramref name="t"/> for a step of <paramref name="order"/> from <paramref name="s0"/>, with the
    /// prediction <paramref name="mt"/> there.
    /// </summary>
    private float[] Correct(float[] last, float[] mt, float[] ms0, float[]? ms1, int s0, int s1, int t, int order)
    {
        double h = LogSnr(t) - LogSnr(s0), hh = -h, alphaT = Alpha(t);
        double phi1 = Math.Exp(hh) - 1, bh = phi1;
        var result = Sum(Sigma(t) / Sigma(s0), last, -alphaT * phi1, ms0);
        if (order == 1 || ms1 is null) return AddDifference(result, -alphaT * bh * 0.5, mt, ms0);
        double r1 = (LogSnr(s1) - LogSnr(s0)) / h;
        double phi2 = phi1 / hh - 1, phi3 = phi2 / hh - 0.5;
        double b1 = phi2 / bh, b2 = 2 * phi3 / bh;
        double rho1 = (b1 - b2) / (1 - r1), rho2 = b1 - rho1;
        var corrected = new float[result.Length];
        for (int j = 0; j < result.Length; j++)
            corrected[j] = (float)(result[j] - alphaT * bh * (rho1 / r1 * (ms1[j] - ms0[j]) + rho2 * (mt[j] - ms0[j])));
        return corrected;
    }
}
