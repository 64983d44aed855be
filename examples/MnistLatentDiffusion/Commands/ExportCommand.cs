using System.CommandLine;
using System.Diagnostics;
using MnistLatentDiffusion.CommandLine;

namespace MnistLatentDiffusion.Commands;

/// <summary><c>export</c>: a saved generator as ONNX files and their description, for the ONNX Runtime engine.</summary>
internal static class ExportCommand
{
    public static Command Create(CommonOptions common)
    {
        var model = CliOptions.Model();
        var output = CliOptions.Output("artifacts/onnx", "Output folder for the ONNX files and their description");
        var export = new Command("export", "Export a saved generator for ONNX Runtime: denoiser.onnx, autoguidance.onnx (if any), decoder.onnx (if any) and "
            + "latent-diffusion.json (shapes, schedule, standardisation, sampler settings, file hashes).") { model, output, common.Verbose };
        export.SetAction(Cli.Guarded(common.Verbose, (p, _) =>
        {
            string directory = PathChecks.WritableFolder(p.GetValue(output)!, "--out");
            var generator = SavedModels.Generator(SavedModels.Context(), p.GetValue(model)!, "--model");
            var clock = Stopwatch.StartNew();
            var files = generator.ExportOnnx(directory);
            foreach (var file in files) Console.WriteLine($"{Path.GetRelativePath(Environment.CurrentDirectory, file)}  {new FileInfo(file).Length:N0} bytes");
            Console.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s; wrote {directory}");
            return Task.FromResult(0);
        }));
        return export;
    }
}
