
namespace LatentDiffusion.Training;

/// <summary>A progress report during training, for progress bars.</summary>
/// <param name="Model">Which model is training (for example "vae", "diffusion", "classifier").</param>
/// <param name="Step">Optimiser steps done.</param>
/// <param name="TotalSteps">Optimiser steps planned.</param>
/// <param name="Epoch">Current epoch, from 1.</param>
/// <param name="Loss">Running mean loss of the current epoch.</param>
public readonly record struct TrainingProgress(string Model, long Step, long TotalSteps, int Epoch, double Loss);
