using LatentDiffusion.Models;
using LatentDiffusion.Models.Vae;

namespace LatentDiffusion.Export;

/// <summary>
/// A VAE's decoding as one ONNX graph, as <see cref="VaeModel.Decode(float[], int)"/> does it: input <c>latents</c>
/// [N, ..latent shape] in the standardised space the diffusion model samples, then the latent scale and shift undone,
/// for a VQ VAE each position replaced by its nearest code, the decoder, the crop back to the image size, and the
/// sigmoid: output <c>images</c> [N, channels, height, width] in [0, 1].
/// </summary>
internal static class VaeDecoderExport
{
    public static OnnxGraph Build(VaeModel vae, string name)
    {
        var config = vae.Config;
        var network = vae.Network;
        var weights = network.state_dict();
        var graph = new OnnxGraph(name);
        var layers = new OnnxLayers(graph, weights);
        var batch = new OnnxGraph.Symbol("batch");
        var latent = config.LatentShape;
        var z = graph.Input(ExportedGraphs.Latents, false, batch, latent[0], latent[1], latent[2]);
        var scale = config.LatentScale.Length == 0 ? Enumerable.Repeat(1f, latent[0]).ToArray() : config.LatentScale;
        var shift = config.LatentShift.Length == 0 ? new float[latent[0]] : config.LatentShift;
        z = layers.Add(layers.Mul(z, graph.Floats("latent_scale", scale, [1, latent[0], 1, 1])), graph.Floats("latent_shift", shift, [1, latent[0], 1, 1]));
        if (network.Quantizer is { } quantizer) z = Quantize(layers, quantizer, z, latent);
        var y = config.Architecture switch
        {
            VaeArchitecture.Plain => Plain(layers, z, config),
            VaeArchitecture.Residual => Residual(layers, z, config),
            var a => throw new NotSupportedException($"A {a} VAE cannot be exported to ONNX."),
        };
        var padded = config.PaddedShape;
        if (padded[1] != config.ImageShape[1] || padded[2] != config.ImageShape[2])
            y = graph.Op("Slice", [y, graph.Longs("crop_starts", [0, 0]), graph.Longs("crop_ends", [config.ImageShape[1], config.ImageShape[2]]),
                graph.Longs("crop_axes", [2, 3])]);
        graph.Output(graph.Op("Sigmoid", [y]), ExportedGraphs.Images, batch, config.ImageShape[0], config.ImageShape[1], config.ImageShape[2]);
        return graph;
    }

    /// <summary>Nearest code per position, with the distances written as <see cref="VectorQuantizer.Nearest"/> computes them.</summary>
    private static string Quantize(OnnxLayers layers, VectorQuantizer quantizer, string z, int[] latent)
    {
        var graph = layers.Graph;
        using var book = quantizer.Codebook.detach();
        var rows = layers.Reshape(layers.Transpose(z, 0, 2, 3, 1), -1, latent[0]);
        var rowNorms = graph.Op("ReduceSum", [layers.Mul(rows, rows), graph.Longs("axes", [1])], ("keepdims", 1L));
        var products = layers.Mul(graph.Floats("two", [2f], []), graph.Op("MatMul", [rows, graph.Weight("codebook_t", book.t())]));
        using var bookNorms = book.square().sum(1).unsqueeze(0);
        var distances = layers.Add(graph.Op("Sub", [rowNorms, products]), graph.Weight("codebook_norms", bookNorms));
        var nearest = graph.Op("ArgMin", [distances], ("axis", 1L), ("keepdims", 0L));
        var codes = graph.Op("Gather", [graph.Weight("codebook", book), nearest], ("axis", 0L));
        return layers.Transpose(layers.Reshape(codes, -1, latent[1], latent[2], latent[0]), 0, 3, 1, 2);
    }

    private static string Plain(OnnxLayers layers, string z, VaeConfig config)
    {
        int halvings = config.Downsampling == 2 ? 1 : 2;
        var h = layers.SiLU(layers.Conv(z, "decoder.in"));
        h = layers.SiLU(layers.Conv(h, "decoder.mid"));
        for (int i = 0; i < halvings; i++) h = layers.SiLU(layers.ConvTranspose(h, $"decoder.up{i}", 2, 1));
        return layers.Conv(h, "decoder.out");
    }

    private static string Residual(OnnxLayers layers, string z, VaeConfig config)
    {
        int halvings = config.Downsampling == 2 ? 1 : 2;
        var h = layers.Conv(z, "decoder.in");
        h = ResidualBlock(layers, h, "decoder.mid0");
        if (config.Attention) h = Attention(layers, h, "decoder.attention", config.Width, config.LatentShape);
        h = ResidualBlock(layers, h, "decoder.mid1");
        for (int i = 0; i < halvings; i++)
            h = layers.ConvTranspose(ResidualBlock(layers, h, $"decoder.res{i}"), $"decoder.up{i}", 2, 1);
        h = layers.SiLU(Norm(layers, h, "decoder.out_norm"));
        return layers.Conv(h, "decoder.out");
    }

    private static string Norm(OnnxLayers layers, string x, string prefix) =>
        layers.GroupNorm(x, prefix, VaeNorm.Groups((int)layers.Shape($"{prefix}.weight")[0]));

    private static string ResidualBlock(OnnxLayers layers, string x, string prefix)
    {
        var h = layers.Conv(layers.SiLU(Norm(layers, x, $"{prefix}.norm1")), $"{prefix}.conv1");
        h = layers.Conv(layers.SiLU(Norm(layers, h, $"{prefix}.norm2")), $"{prefix}.conv2");
        var skip = layers.Has($"{prefix}.skip.weight") ? layers.Conv(x, $"{prefix}.skip", padding: 0) : x;
        return layers.Add(skip, h);
    }

    private static string Attention(OnnxLayers layers, string x, string prefix, int channels, int[] latent)
    {
        var graph = layers.Graph;
        long positions = (long)latent[1] * latent[2];
        var qkv = layers.Reshape(layers.Conv(Norm(layers, x, $"{prefix}.norm"), $"{prefix}.qkv", padding: 0), 0, 3, channels, positions);
        string Part(long index) => graph.Op("Gather", [qkv, graph.Longs("part", [index], [])], ("axis", 1L));
        var (q, k, v) = (Part(0), Part(1), Part(2));
        var scale = graph.Floats("attention_scale", [(float)(1.0 / Math.Sqrt(channels))], []);
        var scores = layers.Mul(graph.Op("MatMul", [layers.Transpose(q, 0, 2, 1), k]), scale);
        var attention = graph.Op("Softmax", [scores], ("axis", -1L));
        var attended = layers.Reshape(graph.Op("MatMul", [v, layers.Transpose(attention, 0, 2, 1)]), 0, channels, latent[1], latent[2]);
        return layers.Add(x, layers.Conv(attended, $"{prefix}.projection", padding: 0));
    }
}
