
namespace LatentDiffusion.Training;

/// <summary>Thrown when a training loss stops being a finite number; the last checkpoint (if any) is from before that step.</summary>
public sealed class TrainingDivergedException : InvalidOperationException
{
    internal TrainingDivergedException(string model, int epoch, long step, double loss, string? checkpoint)
        : base($"{model} training diverged at epoch {epoch}, step {step}: the loss is {loss}. Lower the learning rate"
            + (checkpoint is null ? "." : $"; the last good checkpoint, '{checkpoint}', is from before this step."))
    {
        Model = model;
        Epoch = epoch;
        Step = step;
        CheckpointPath = checkpoint;
    }

    /// <summary>The model whose training diverged ("vae", "diffusion", "autoguidance", "classifier").</summary>
    public string Model { get; }
    /// <summary>The epoch, from 1.</summary>
    public int Epoch { get; }
    /// <summary>The optimiser step, from 0.</summary>
    public long Step { get; }
    /// <summary>The checkpoint kept from before the step, or null when none was written.</summary>
    public string? CheckpointPath { get; }
}
