using LatentDiffusion.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace LatentDiffusion.Tests.Runtime;

public class TorchRuntimeTests
{
    [Fact]
    public void A_small_conv_net_trains_inside_the_test_process()
    {
        var device = DeviceSelector.Resolve(ComputeDevice.Cpu);
        torch.manual_seed(0);
        using var net = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding: 1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 2));
        net.to(device);
        using var optimizer = optim.Adam(net.parameters(), lr: 0.01);
        using var x = torch.randn(32, 1, 8, 8);
        using var y = (x.mean([1, 2, 3]) > 0).to(ScalarType.Int64);

        float first = 0, last = 0;
        for (int step = 0; step < 30; step++)
        {
            using var scope = torch.NewDisposeScope();
            optimizer.zero_grad();
            var loss = nn.functional.cross_entropy(net.forward(x), y);
            loss.backward();
            optimizer.step();
            if (step == 0) first = loss.item<float>();
            last = loss.item<float>();
        }
        Assert.True(last < first * 0.5f, $"loss went from {first} to {last}");
    }

    [Fact]
    public void Asking_for_cuda_without_a_cuda_runtime_says_what_to_reference()
    {
        if (torch.cuda.is_available()) return; // a GPU machine with the CUDA package: nothing to check here
        var ex = Assert.Throws<InvalidOperationException>(() => DeviceSelector.Resolve(ComputeDevice.Cuda));
        Assert.Contains("TorchSharp-cuda-linux", ex.Message);
        Assert.Equal(torch.CPU.type, DeviceSelector.Resolve(ComputeDevice.Auto).type);
    }

    [Fact]
    public void Device_names_parse_and_unknown_names_are_rejected()
    {
        Assert.Equal(ComputeDevice.Cpu, DeviceSelector.Parse("CPU"));
        Assert.Equal(ComputeDevice.Auto, DeviceSelector.Parse("auto"));
        Assert.Equal(ComputeDevice.Cuda, DeviceSelector.Parse("cuda"));
        Assert.Contains("tpu", Assert.Throws<ArgumentException>(() => DeviceSelector.Parse("tpu")).Message);
    }

    [Fact]
    public void The_patcher_marks_only_the_named_version_need_weak()
    {
        // TorchSharp's own copy: the one in the build output may already be patched by the package's build step.
        string packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } p ? p
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        string lib = Path.Combine(packages, "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        byte[] bytes = File.ReadAllBytes(lib);
        byte[] copy = (byte[])bytes.Clone();
        Assert.Equal(1, ElfVersionNeedPatcher.MarkWeak(copy, "GLIBCXX_3.4.32"));
        int changed = Enumerable.Range(0, bytes.Length).Count(i => bytes[i] != copy[i]);
        Assert.Equal(1, changed); // one flag byte, nothing else
        Assert.Equal(0, ElfVersionNeedPatcher.MarkWeak((byte[])bytes.Clone(), "GLIBCXX_9.9.99"));
        Assert.Throws<InvalidDataException>(() => ElfVersionNeedPatcher.MarkWeak(new byte[100], "x"));
    }
}
