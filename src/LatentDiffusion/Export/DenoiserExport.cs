using LatentDiffusion.Models;
using LatentDiffusion.Models.Denoisers;

namespace LatentDiffusion.Export;

/// <summary>
/// A denoiser as an ONNX graph: inputs <c>x</c> [N, ..data shape] (float32), <c>t</c> [N] (float32 timesteps) and, for a
/// class-conditional network, <c>labels</c> [N] (int64; <see cref="Denoiser.NullClass"/> is unconditional); output
/// <c>prediction</c> [N, ..data shape]. Weights are exported in float32 whatever format the network runs in.
/// </summary>
internal static class DenoiserExport
{
    public static OnnxGraph Build(Denoiser denoiser, string name)
    {
        var config = denoiser.Config;
        var weights = denoiser.state_dict();
        var graph = new OnnxGraph(name);
        var batch = new OnnxGraph.Symbol("batch");
        var x = graph.Input(ExportedGraphs.Sample, false, [batch, .. config.DataShape.Cast<object>()]);
        var t = graph.Input(ExportedGraphs.Timestep, false, batch);
        string? labels = config.Classes > 0 ? graph.Input(ExportedGraphs.Labels, true, batch) : null;
        var layers = new OnnxLayers(graph, weights);
        var emb = layers.Linear(layers.SiLU(layers.Linear(layers.TimeEmbedding(t, config.Width), "timeMlp.fc1")), "timeMlp.fc2");
        if (labels is not null) emb = layers.Add(emb, graph.Op("Gather", [layers.W("classEmbedding.weight"), labels], ("axis", 0L)));
        string prediction = config.Kind switch
        {
            DenoiserKind.UNet => Unet(layers, config, x, emb),
            DenoiserKind.Mlp => Mlp(layers, config, x, emb),
            var kind => throw new NotSupportedException($"A {kind} denoiser cannot be exported to ONNX: only UNet and Mlp denoisers can."),
        };
        graph.Output(prediction, ExportedGraphs.Prediction, [batch, .. config.DataShape.Cast<object>()]);
        return graph;
    }

    private static string Unet(OnnxLayers layers, DenoiserConfig config, string x, string emb)
    {
        int height = config.DataShape[1], width = config.DataShape[2];
        // The embedding's SiLU, which every block's projection starts with, once.
        var activeEmb = layers.SiLU(emb);

        string ConvBlock(string prefix, string input)
        {
            var conv = layers.Conv(input, $"{prefix}.conv");
            long channels = layers.Shape($"{prefix}.conv.weight")[0];
            var normed = layers.GroupNorm(conv, $"{prefix}.norm", Math.Min(8, channels));
            var projected = layers.Unsqueeze(layers.Linear(activeEmb, $"{prefix}.embedding"), 2, 3);
            return layers.SiLU(layers.Add(normed, projected));
        }

        string Block(string prefix, string input)
        {
            var skip = layers.Has($"{prefix}.skip.weight") ? layers.Conv(input, $"{prefix}.skip", padding: 0) : input;
            return layers.Add(skip, ConvBlock($"{prefix}.second", ConvBlock($"{prefix}.first", input)));
        }

        int lowHeight = (height + 1) / 2, lowWidth = (width + 1) / 2;
        var h0 = Block("high", layers.Conv(x, "input"));
        var h1 = Block("low", layers.Conv(h0, "downsample", stride: 2));
        if (config.Levels == 3)
        {
            var h2 = Block("middle", Block("lower", layers.Conv(h1, "downsample2", stride: 2)));
            h1 = Block("upBlock2", layers.Concat(1, layers.ResizeNearest(h2, lowHeight, lowWidth), h1));
        }
        else h1 = Block("middle", h1);
        var h = Block("upBlock", layers.Concat(1, layers.ResizeNearest(h1, height, width), h0));
        return layers.Conv(h, "output");
    }

    private static string Mlp(OnnxLayers layers, DenoiserConfig config, string x, string emb)
    {
        var activeEmb = layers.SiLU(emb);
        var h = layers.Linear(layers.Graph.Op("Flatten", [x], ("axis", 1L)), "input");
        for (int i = 0; i < config.Depth; i++)
        {
            string block = $"blocks.{i}";
            var y = layers.Add(layers.Linear(layers.Gelu(layers.LayerNorm(h, $"{block}.norm")), $"{block}.first"),
                layers.Linear(activeEmb, $"{block}.embedding"));
            h = layers.Add(h, layers.Linear(layers.Gelu(y), $"{block}.second"));
        }
        var output = layers.Linear(layers.Gelu(layers.LayerNorm(h, "norm")), "output");
        return layers.Reshape(output, [-1, .. config.DataShape.Select(d => (long)d)]);
    }
}
