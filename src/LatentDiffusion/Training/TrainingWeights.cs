using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LatentDiffusion.Training;

/// <summary>
/// The weights the optimiser updates. In float32 they are the module's own parameters. In bfloat16 mixed precision they
/// are float32 masters: inside an epoch the module holds a bfloat16 copy, its gradients are widened onto the masters
/// before each optimiser step, and the updated masters are rounded back into it; between epochs (and after training) the
/// module is float32 again and holds the masters exactly, so validation and everything downstream see float32 weights.
/// </summary>
internal sealed class TrainingWeights : IDisposable
{
    private readonly nn.Module module;
    private readonly (string Name, Parameter Master)[]? masters;
    private Parameter[] working = [];

    public TrainingWeights(nn.Module module, TrainingPrecision precision)
    {
        if (!Enum.IsDefined(precision)) throw new ArgumentOutOfRangeException(nameof(precision), precision, "Unknown training precision.");
        this.module = module;
        if (precision == TrainingPrecision.BFloat16)
            masters = module.named_parameters().Select(p => (p.name, new Parameter(p.parameter.detach().clone()))).ToArray();
    }

    /// <summary>What the optimiser steps on.</summary>
    public IEnumerable<Parameter> Parameters => masters is null ? module.parameters() : masters.Select(m => m.Master);

    /// <summary>The float32 weights by name (parameters, then the module's buffers), for a weight average.</summary>
    public IEnumerable<(string Name, Tensor Value)> Current()
    {
        var parameters = masters is null ? module.named_parameters().Select(p => (p.name, (Tensor)p.parameter)) : masters.Select(m => (m.Name,
            (Tensor)m.Master));
        return parameters.Concat(module.named_buffers().Select(b => (b.name, b.buffer)));
    }

    /// <summary>
    /// Everything a resumed run needs of the weights, by name: the module's state in float32 training; the float32
    /// masters and the module's buffers in mixed precision (the module's bfloat16 copy follows from the masters).
    /// </summary>
    public IReadOnlyDictionary<string, Tensor> State()
    {
        if (masters is null) return module.state_dict();
        var state = masters.ToDictionary(m => m.Name, m => (Tensor)m.Master);
        foreach (var (name, buffer) in module.named_buffers()) state[name] = buffer;
        return state;
    }

    /// <summary>After <see cref="State"/>'s tensors were overwritten (a resumed run): the float32 module takes the masters' values.</summary>
    public void AfterRestore()
    {
        if (masters is null) return;
        using var _ = no_grad();
        var parameters = module.parameters().ToArray();
        for (int i = 0; i < parameters.Length; i++) parameters[i].copy_(masters[i].Master);
    }

    /// <summary>Puts the module in its training number format (start of an epoch).</summary>
    public void BeginEpoch()
    {
        if (masters is null) return;
        module.to(ScalarType.BFloat16);
        var named = module.named_parameters().ToArray();
        if (named.Length != masters.Length || named.Where((p, i) => p.name != masters[i].Name).Any())
            throw new InvalidOperationException("The module's parameters changed during training.");
        working = named.Select(p => p.parameter).ToArray();
    }

    /// <summary>Before the optimiser step: the module's gradients, widened onto the masters.</summary>
    public void GradientsToMasters()
    {
        if (masters is null) return;
        using var _ = no_grad();
        for (int i = 0; i < working.Length; i++)
        {
            var master = masters[i].Master;
            var gradient = working[i].grad;
            if (gradient is null) { master.grad?.zero_(); continue; }
            if (master.grad is null) master.grad = gradient.to_type(ScalarType.Float32).DetachFromDisposeScope();
            else master.grad.copy_(gradient);
        }
    }

    /// <summary>After the optimiser step: the updated masters, rounded into the module.</summary>
    public void MastersToModule()
    {
        if (masters is null) return;
        using var _ = no_grad();
        for (int i = 0; i < working.Length; i++) working[i].copy_(masters[i].Master);
    }

    /// <summary>
    /// Overwrites rows of the weight named <paramref name="name"/> with <paramref name="values"/>, in the optimiser's
    /// copy and the module's: for updates that are not gradient steps (a VQ codebook's restarted codes). Called
    /// between steps; the optimiser's moments for those rows stay as they were.
    /// </summary>
    public void AssignRows(string name, Tensor rows, Tensor values)
    {
        using var _ = no_grad();
        if (masters is null)
        {
            var parameter = module.named_parameters().Single(p => p.name == name).parameter;
            parameter.index_copy_(0, rows, values.to_type(parameter.dtype));
            return;
        }
        int i = Array.FindIndex(masters, m => m.Name == name);
        if (i < 0) throw new ArgumentException($"No weight named '{name}'.", nameof(name));
        masters[i].Master.index_copy_(0, rows, values.to_type(ScalarType.Float32));
        if (working.Length > 0) working[i].copy_(masters[i].Master);
        else module.named_parameters().Single(p => p.name == name).parameter.copy_(masters[i].Master);
    }

    /// <summary>Clears the gradients the backward pass accumulates into.</summary>
    public void ZeroGradients()
    {
        if (masters is null) return;
        foreach (var p in working) p.grad?.zero_();
    }

    /// <summary>Returns the module to float32 holding the masters exactly (end of an epoch, end of training).</summary>
    public void EndEpoch()
    {
        if (masters is null) return;
        module.to(ScalarType.Float32);
        working = [];
        using var _ = no_grad();
        var parameters = module.parameters().ToArray();
        for (int i = 0; i < parameters.Length; i++) parameters[i].copy_(masters[i].Master);
    }

    public void Dispose()
    {
        if (masters is null) return;
        foreach (var (_, master) in masters) { master.grad?.Dispose(); master.Dispose(); }
    }
}
