using System.CommandLine;
using MnistLatentDiffusion.Benchmarks;
using MnistLatentDiffusion.CommandLine;

namespace MnistLatentDiffusion.Commands;

/// <summary><c>onnx-bench</c>: ONNX Runtime against TorchSharp on a saved generator.</summary>
internal static class OnnxBenchCommand
{
    public static Command Create(CommonOptions common)
    {
        var model = CliOptions.Model();
        var output = CliOptions.Output("artifacts/onnx-bench");
        var count = CliOptions.Integer("--count", "Requests per set", 512, 1, 100_000);
        var sets = CliOptions.Integer("--sets", "Held-out request sets", 3, 1, 20);
        var bench = new Command("onnx-bench", "ONNX Runtime against TorchSharp on a saved generator: exports it, generates the same held-out requests with "
            + "each engine; images/s, open-to-first-image time, per-pixel differences; report.json, engines.png.") { model, output, count, sets,
                common.Verbose };
        bench.SetAction(Cli.Guarded(common.Verbose, (p, _) =>
        {
            string directory = PathChecks.WritableFolder(p.GetValue(output)!, "--out");
            string modelPath = p.GetValue(model)!;
            var generator = SavedModels.Generator(SavedModels.Context(), modelPath, "--model");
            var report = new DeployBenchmark(generator, directory).Run(modelPath, p.GetValue(count), p.GetValue(sets));
            Console.WriteLine(report.ToJsonString(SavedModels.Indented));
            return Task.FromResult(0);
        }));
        return bench;
    }
}
