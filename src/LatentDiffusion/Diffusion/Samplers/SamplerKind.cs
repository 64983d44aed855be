namespace LatentDiffusion.Diffusion;

/// <summary>Which reverse process generates samples (<see cref="Samplers.Create"/> builds each).</summary>
public enum SamplerKind
{
    /// <summary>Strided DDIM (Song et al. 2021, "Denoising diffusion implicit models"); deterministic when eta = 0. One evaluation per step.</summary>
    Ddim,

    /// <summary>DDPM ancestral sampling (Ho et al. 2020), optionally on a strided subset of timesteps. One evaluation per step.</summary>
    Ddpm,

    /// <summary>
    /// DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++: Fast solver for guided sampling of diffusion probabilistic
    /// models"): second-order multistep in log-SNR on data predictions, first order at the first and last step.
    /// One evaluation per step.
    /// </summary>
    DpmSolverPlusPlus2M,

    /// <summary>
    /// UniPC-bh2 (Zhao et al. 2023, "UniPC: A unified predictor-corrector framework for fast sampling of diffusion
    /// models"): the second-order multistep predictor with the corrector, which reuses the evaluation the next step
    /// needs anyway. One evaluation per step.
    /// </summary>
    UniPc,

    /// <summary>
    /// Heun's second-order method on the probability-flow ODE (Karras et al. 2022, "Elucidating the design space of
    /// diffusion-based generative models", algorithm 1). Two evaluations per step, one on the last.
    /// </summary>
    Heun,
}

/// <summary>
/// How the ODE solvers (<see cref="SamplerKind.DpmSolverPlusPlus2M"/>, <see cref="SamplerKind.UniPc"/>,
/// <see cref="SamplerKind.Heun"/>) place their steps.
/// </summary>
public enum TimestepSpacing
{
    /// <summary>Evenly in the timestep t (DDIM's and DDPM's only spacing).</summary>
    Time,

    /// <summary>Evenly in the log signal-to-noise ratio lambda (DPM-Solver's "logSNR" spacing).</summary>
    LogSnr,

    /// <summary>Karras et al.'s spacing in sigma/alpha with rho = 7: dense at low noise.</summary>
    Karras,
}
