using LatentDiffusion.Diffusion.Guidance;
using LatentDiffusion.Models.Denoisers;
using static TorchSharp.torch;

namespace LatentDiffusion.Diffusion;

/// <summary>
/// The TorchSharp engine's side of sampling one batch: its networks' predictions on the model's device, and each
/// request's noise drawn on the CPU from its own generator seeded by the request (all 64 bits of it:
/// <see cref="Runtime.SeededGenerator"/>), so a sample does not depend on its batch mates or the device.
/// </summary>
internal sealed class TorchDenoiserEngine : IDenoiserEngine<TorchArray>, IDisposable
{
    private readonly Func<DenoiserRole, Denoiser> networks;
    private readonly Generator[] generators;
    private readonly long[] shape;
    private readonly Device device;
    private readonly Tensor conditional, unconditional;

    /// <param name="networks">The network of each role, in the number format sampling runs in.</param>
    /// <param name="labels">The requested labels; -1 asks for an unconditional sample.</param>
    /// <param name="seeds">Each request's seed.</param>
    /// <param name="dataShape">The shape of one sample.</param>
    /// <param name="device">Where the networks and samples live.</param>
    public TorchDenoiserEngine(Func<DenoiserRole, Denoiser> networks, ReadOnlySpan<int> labels, ReadOnlySpan<long> seeds, int[] dataShape, Device device)
    {
        this.networks = networks;
        this.device = device;
        shape = dataShape.Select(d => (long)d).ToArray();
        generators = new Generator[seeds.Length];
        for (int i = 0; i < seeds.Length; i++) generators[i] = Runtime.SeededGenerator.Create(seeds[i]);
        int nullClass = networks(DenoiserRole.Main).NullClass;
        conditional = tensor(labels.ToArray().Select(l => (long)(l < 0 ? nullClass : l)).ToArray(), device: device);
        unconditional = full([labels.Length], nullClass, dtype: int64, device: device);
    }

    public TorchArray Noise() => new(stack(generators.Select(g => randn(shape, generator: g, device: CPU)).ToArray()).to(device));

    public IReadOnlyList<TorchArray> Predict(DenoiserRole network, TorchArray x, int t, IReadOnlyList<bool> conditionalBlocks)
    {
        var denoiser = networks(network);
        var tt = full([generators.Length], t, dtype: int64, device: device);
        Tensor Labels(bool isConditional) => isConditional ? conditional : unconditional;
        if (conditionalBlocks.Count == 1) return [new TorchArray(denoiser.forward(x.Value, tt, Labels(conditionalBlocks[0])))];
        int copies = conditionalBlocks.Count;
        var outputs = denoiser.forward(cat(Enumerable.Repeat(x.Value, copies).ToArray()), cat(Enumerable.Repeat(tt, copies).ToArray()),
            cat(conditionalBlocks.Select(Labels).ToArray())).chunk(copies);
        return [.. outputs.Select(o => new TorchArray(o))];
    }

    public void Dispose()
    {
        foreach (var g in generators) g?.Dispose();
    }
}
