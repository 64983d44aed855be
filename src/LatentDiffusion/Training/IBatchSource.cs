
using static TorchSharp.torch;

namespace LatentDiffusion.Training;

/// <summary>
/// Where a <see cref="MinibatchLoop"/> takes its minibatches from. Each epoch's order is drawn from the loop's generator
/// into a tensor that a checkpoint keeps, so a resumed run reopens the epoch at the batch where it stopped.
/// </summary>
internal interface IBatchSource : IDisposable
{
    /// <summary>Rows per epoch.</summary>
    long Rows { get; }

    /// <summary>How epochs are ordered, when not by a permutation of rows in memory (null): part of what a checkpoint must match.</summary>
    string? Shuffle { get; }

    /// <summary>Draws the next epoch's order from <paramref name="generator"/> (on the CPU).</summary>
    Tensor DrawEpoch(Generator generator);

    /// <summary>The epoch of order <paramref name="epoch"/>, positioned at batch <paramref name="firstBatch"/>.</summary>
    IEpochBatches Open(Tensor epoch, int batchSize, long firstBatch);
}

/// <summary>One epoch's minibatches, in order.</summary>
internal interface IEpochBatches : IDisposable
{
    /// <summary>The next minibatch (created in the caller's dispose scope).</summary>
    (Tensor Values, Tensor? Labels) Next();
}
