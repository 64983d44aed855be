
namespace LatentDiffusion.Runtime;

/// <summary>Where tensor work runs.</summary>
public enum ComputeDevice
{
    /// <summary>CUDA when a CUDA runtime is referenced and a GPU is present, otherwise CPU.</summary>
    Auto,
    /// <summary>The CPU (TorchSharp-cpu).</summary>
    Cpu,
    /// <summary>An NVIDIA GPU; needs the TorchSharp-cuda-linux package and a driver.</summary>
    Cuda,
}
