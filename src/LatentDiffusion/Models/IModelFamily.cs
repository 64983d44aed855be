
using static TorchSharp.torch;

namespace LatentDiffusion.Models;

/// <summary>
/// The calls every model family has (the diffusion model with its denoisers, the VAE, the FID classifier): a config
/// checked once at a boundary (options, a file), its weights counted without allocating them, and an untrained model
/// built from it. Training recipes beside each model take the same (config, data, settings, run) and give the model
/// and its history.
/// </summary>
/// <typeparam name="TConfig">What rebuilds the networks: the record a model file stores.</typeparam>
/// <typeparam name="TModel">The model.</typeparam>
internal interface IModelFamily<TConfig, TModel> where TModel : IModelFamily<TConfig, TModel>
{
    /// <summary>Checks <paramref name="config"/> before anything is allocated; <paramref name="source"/> names it in messages.</summary>
    static abstract void Validate(TConfig config, string source);

    /// <summary>The number of weights of a validated config's networks, counted without allocating them.</summary>
    static abstract long ParameterCount(TConfig config);

    /// <summary>An untrained model of a validated config, its weights on <paramref name="device"/>: ready for saved weights.</summary>
    static abstract TModel Build(TConfig config, Device device);
}

/// <summary>What the model families share.</summary>
internal static class ModelFamily
{
    /// <summary>The weights of the network <paramref name="build"/> makes, counted on the "meta" device, which allocates nothing.</summary>
    public static long CountOnMeta(Func<Device, nn.Module> build)
    {
        using var network = build(new Device("meta"));
        return network.parameters().Sum(p => p.numel());
    }

    /// <summary>The boundary call: validates <paramref name="config"/>, then builds its model.</summary>
    public static TModel Build<TConfig, TModel>(TConfig config, Device device, string source) where TModel : IModelFamily<TConfig, TModel>
    {
        TModel.Validate(config, source);
        return TModel.Build(config, device);
    }
}
