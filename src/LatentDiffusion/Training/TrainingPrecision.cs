
namespace LatentDiffusion.Training;

/// <summary>The number format a model trains in.</summary>
public enum TrainingPrecision
{
    /// <summary>float32 throughout (default).</summary>
    Float32,
    /// <summary>
    /// Mixed precision: forward and backward passes in bfloat16; the optimiser updates float32 master weights (so do the
    /// loss, the optimiser state and any weight average), and the trained model is float32. Faster on CPUs with bfloat16
    /// instructions (AVX-512 BF16, AMX) and on recent GPUs; slower where bfloat16 is emulated.
    /// </summary>
    BFloat16,
}
