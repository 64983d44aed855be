using static TorchSharp.torch;

namespace LatentDiffusion.Training;

/// <summary>
/// What a <see cref="MinibatchLoop"/> trains, in named parts: the module and its minibatches, the loss of one
/// minibatch, and what a recipe adds (a validation loss, a weight average, work after each step and the state that
/// work keeps).
/// </summary>
internal sealed record LoopWork
{
    /// <summary>The network trained.</summary>
    public required nn.Module Module { get; init; }

    /// <summary>Its training rows, drawn in a new order each epoch.</summary>
    public required IBatchSource Batches { get; init; }

    /// <summary>
    /// A minibatch's values and labels, with the run's CPU generator, to a scalar float32 loss with a graph (computed
    /// inside the step's dispose scope).
    /// </summary>
    public required Func<Tensor, Tensor?, Generator, Tensor> Loss { get; init; }

    /// <summary>The loss on held-out rows, computed after each epoch with the module in float32; null: none.</summary>
    public Func<double>? ValidationLoss { get; init; }

    /// <summary>Updated with the float32 weights after each optimiser step; null: none.</summary>
    public ExponentialMovingAverage? Average { get; init; }

    /// <summary>Runs after each optimiser step, inside the step's dispose scope (updates that are not gradient steps).</summary>
    public Action<TrainingWeights>? AfterStep { get; init; }

    /// <summary>State <see cref="AfterStep"/> keeps (a second network and its optimiser), written into every checkpoint under these names.</summary>
    public IReadOnlyDictionary<string, CheckpointPart>? ExtraState { get; init; }
}
