
namespace LatentDiffusion.Diffusion.Samplers;

/// <summary>How the ODE solvers (<see cref="SolverSampler"/>) place their steps.</summary>
public enum TimestepSpacing
{
    /// <summary>Evenly in the timestep t (DDIM's and DDPM's only spacing).</summary>
    Time,

    /// <summary>Evenly in the log signal-to-noise ratio lambda (DPM-Solver's "logSNR" spacing).</summary>
    LogSnr,

    /// <summary>Karras et al.'s spacing in sigma/alpha with rho = 7: dense at low noise.</summary>
    Karras,
}
