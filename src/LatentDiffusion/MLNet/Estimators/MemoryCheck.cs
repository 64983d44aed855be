
namespace LatentDiffusion.MLNet.Estimators;

/// <summary>Refuses, before anything is allocated, a network too large to train in this process's memory, naming the option that asked for it.</summary>
internal static class MemoryCheck
{
    /// <summary>
    /// Bytes per weight while training: the weights, their average, gradients and the optimiser's two moments, in
    /// float32, and a bfloat16 copy.
    /// </summary>
    private const long BytesPerWeight = 5 * sizeof(float) + 2;

    public static long Available => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;

    public static void Training(long parameters, string option, object value, string owner)
    {
        long bytes = parameters * BytesPerWeight, available = Available;
        if (bytes > available)
            throw new ArgumentOutOfRangeException(option, value,
                $"{owner}.{option} asks for networks of {parameters:N0} weights, about {bytes / 1e9:F1} GB to train (weights, average, gradients, "
                    + $"optimiser state), "
                + $"more than the {available / 1e9:F1} GB this process can use.");
    }
}
