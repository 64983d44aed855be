using TorchSharp;

namespace LatentDiffusion.Runtime;

/// <summary>Turns a <see cref="ComputeDevice"/> choice into a TorchSharp device.</summary>
public static class DeviceSelector
{
    /// <summary>Resolves <paramref name="choice"/>; asking for CUDA where it is unavailable throws and says what to reference.</summary>
    public static torch.Device Resolve(ComputeDevice choice)
    {
        TorchNativeLoader.EnsureLoaded();
        return choice switch
        {
            ComputeDevice.Cpu => torch.CPU,
            ComputeDevice.Auto => torch.cuda.is_available() ? torch.CUDA : torch.CPU,
            ComputeDevice.Cuda when torch.cuda.is_available() => torch.CUDA,
            ComputeDevice.Cuda => throw new InvalidOperationException(
                "CUDA was requested but is not available. Reference the TorchSharp-cuda-linux package instead of " +
                "TorchSharp-cpu (in this repository: build with -p:LatentDiffusionCuda=true), and run on a machine " +
                "with an NVIDIA GPU and driver; or choose ComputeDevice.Cpu or ComputeDevice.Auto."),
            _ => throw new ArgumentOutOfRangeException(nameof(choice), choice, "Expected Auto, Cpu or Cuda."),
        };
    }

    /// <summary>
    /// Where a loaded model lives, from its MLContext's settings: the CPU unless <paramref name="gpuDeviceId"/> names a
    /// CUDA device; when that device is missing, the CPU if <paramref name="fallbackToCpu"/>, else an error that says so.
    /// </summary>
    internal static torch.Device ForLoadedModel(int? gpuDeviceId, bool fallbackToCpu)
    {
        TorchNativeLoader.EnsureLoaded();
        if (gpuDeviceId is not { } id) return torch.CPU;
        if (id >= 0 && torch.cuda.is_available() && id < torch.cuda.device_count()) return new torch.Device(DeviceType.CUDA, id);
        if (fallbackToCpu) return torch.CPU;
        throw new InvalidOperationException(
            $"MLContext.GpuDeviceId is {id} and MLContext.FallbackToCpu is false, but CUDA device {id} is not available " +
            $"({(torch.cuda.is_available() ? $"{torch.cuda.device_count()} CUDA devices" : "no CUDA runtime or GPU")}). " +
            "Set FallbackToCpu to true, clear GpuDeviceId, or reference TorchSharp-cuda-linux on a machine with that GPU.");
    }

    /// <summary>Parses "cpu", "cuda" or "auto" (case-insensitive).</summary>
    public static ComputeDevice Parse(string text) => text.Trim().ToLowerInvariant() switch
    {
        "cpu" => ComputeDevice.Cpu,
        "cuda" or "gpu" => ComputeDevice.Cuda,
        "auto" => ComputeDevice.Auto,
        _ => throw new ArgumentException($"Unknown device '{text}': expected cpu, cuda or auto.", nameof(text)),
    };
}
