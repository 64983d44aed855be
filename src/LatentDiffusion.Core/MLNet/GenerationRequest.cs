
namespace LatentDiffusion.MLNet;

/// <summary>
/// One generation request, a row of the view a generator transforms: which class to draw (-1 for an unconditional
/// sample) and the seed that makes the sample repeatable. Load many with <c>mlContext.Data.LoadFromEnumerable</c>;
/// any integer column types work, and both columns are optional.
/// </summary>
public sealed class GenerationRequest
{
    /// <summary>The class asked for: 0..classes-1, or -1 for an unconditional sample. Default -1.</summary>
    public int Label { get; set; } = -1;

    /// <summary>The sample's seed: the same label and seed give the same sample.</summary>
    /// <remarks>
    /// "The same" in three levels. On one machine with the same library versions, thread count, batch size and
    /// precision: bit-identical, across processes and after save and load. On another CPU (other libtorch kernels):
    /// within 2e-5 of the image's largest value in float32 sampling, 1e-2 in bfloat16. A model trained again on
    /// another machine: other samples of the same quality (within the spread of held-out request sets).
    /// </remarks>
    public long Seed { get; set; }
}
