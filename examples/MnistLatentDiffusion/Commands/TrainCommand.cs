using System.CommandLine;
using LatentDiffusion.Runtime;
using MnistLatentDiffusion.CommandLine;
using MnistLatentDiffusion.Jobs;
using MnistLatentDiffusion.Reports;

namespace MnistLatentDiffusion.Commands;

/// <summary>The main job: the bare run and <c>train</c> train every model, evaluate, and write the model zip, pictures and report.</summary>
internal static class TrainCommand
{
    private static readonly string[] Presets = ["quick", "default", "full", "smoke"];

    /// <summary>The options of a run, shared by the root command and <c>train</c>.</summary>
    private sealed class RunOptions(CommonOptions common)
    {
        public Option<string> Preset { get; } = CliOptions.Choice("--preset", "Sizes of the run", "default", Presets);
        public Option<string?> Output { get; } = new("--out") { Description = "Output folder (default artifacts/<preset>)" };
        public Option<string> Device { get; } = CliOptions.Choice("--device", "Where to compute", "cpu", "cpu", "cuda", "auto");
        public Option<bool> Resume { get; } = new("--resume")
        {
            Description = "Continue from the training checkpoints in the output folder (written every 5 minutes and on Ctrl+C)",
        };

        public Option[] All => [Preset, Output, Device, common.Seed, Resume, common.Verbose];

        public Func<ParseResult, CancellationToken, Task<int>> Action => Cli.Guarded(common.Verbose, (p, token) => RunAsync(p.GetValue(Preset)!,
            p.GetValue(Output), p.GetValue(Device)!, p.GetValue(common.Seed), p.GetValue(Resume), p.GetValue(common.Verbose), token));
    }

    public static RootCommand Root(CommonOptions common)
    {
        var options = new RunOptions(common);
        var root = new RootCommand("LatentDiffusion for ML.NET: train a latent diffusion model on MNIST, generate digits, score them with FID.");
        foreach (var option in options.All) root.Options.Add(option);
        root.SetAction(options.Action);
        return root;
    }

    public static Command Create(CommonOptions common)
    {
        var options = new RunOptions(common);
        var train = new Command("train", "The same as the bare run: train every model, evaluate, write the model zip, pictures and report.");
        foreach (var option in options.All) train.Options.Add(option);
        train.SetAction(options.Action);
        return train;
    }

    public static async Task<int> RunAsync(string preset, string? output, string device, int seed, bool resume, bool verbose, CancellationToken token)
    {
        var settings = RunSettings.For(preset) with { Seed = seed, Device = device };
        string directory = PathChecks.WritableFolder(output ?? Path.Combine("artifacts", preset), "--out");
        string checkpoints = Path.Combine(directory, "checkpoints");
        if (resume && !Directory.Exists(checkpoints))
            throw new CommandLineException($"--resume: {checkpoints} holds no checkpoints to continue from; run without --resume to start.");
        DeviceSelector.Resolve(DeviceSelector.Parse(device));   // fails now, not after the classifier
        var job = new MainJob(settings, directory) { CheckpointDirectory = checkpoints, Resume = resume };
        try
        {
            var report = await Ui.RunAsync(verbose, "MnistLatentDiffusion", (logger, training, stages) => job.RunAsync(logger, training, stages, token));
            Console.WriteLine(Report.Markdown(report));
            Console.WriteLine($"Wrote {directory}");
            return 0;
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            Console.Error.WriteLine($"Stopped. Training checkpoints are in {checkpoints}; continue with the same command and --resume "
                + $"(dotnet run -c Release --project examples/MnistLatentDiffusion -- --preset {preset} --out {output ?? Path.Combine("artifacts", preset)} "
                + "--resume).");
            return Cli.Stopped;
        }
    }
}
