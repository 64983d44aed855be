using LatentDiffusion.Runtime;
using TorchSharp;
var d = DeviceSelector.Resolve(ComputeDevice.Cpu);
using var x = torch.randn(3, 3);
Console.WriteLine($"{TorchNativeLoader.Outcome} {x.sum().item<float>()}");
