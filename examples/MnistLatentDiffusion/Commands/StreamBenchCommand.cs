using System.CommandLine;
using System.Globalization;
using Microsoft.Extensions.Logging.Abstractions;
using MnistLatentDiffusion.Benchmarks;
using MnistLatentDiffusion.CommandLine;

namespace MnistLatentDiffusion.Commands;

/// <summary><c>stream-bench</c>: training data in memory against streamed (it runs its measurements in child processes of itself).</summary>
internal static class StreamBenchCommand
{
    public static Command Create(CommonOptions common)
    {
        var output = CliOptions.Output("artifacts/stream-bench");
        var rows = new Option<string>("--rows") { Description = "Synthetic row counts, comma-separated", DefaultValueFactory = _ => "10000,100000,1000000" };
        var child = new Option<string?>("--child") { Hidden = true };
        var data = new Option<string?>("--data") { Hidden = true };
        var stream = new Option<bool>("--stream") { Hidden = true };
        var bench = new Command("stream-bench", "Training data in memory against streamed: peak memory against rows (synthetic 1x16x16 rows), and training "
            + "throughput on MNIST (VAE, then diffusion on cached latents); report.json, streaming.md.")
            { output, rows, child, data, stream, common.Seed, common.Verbose };
        bench.SetAction(Cli.Guarded(common.Verbose, (p, token) => Run(p.GetValue(output)!, p.GetValue(rows)!, p.GetValue(child), p.GetValue(data),
            p.GetValue(stream), p.GetValue(common.Seed), p.GetValue(common.Verbose), token)));
        return bench;
    }

    private static Task<int> Run(string output, string rows, string? child, string? data, bool stream, int seed, bool verbose, CancellationToken token)
    {
        string directory = PathChecks.WritableFolder(output, "--out");
        if (child is not null)
        {
            if (child is not ("synthetic" or "mnist")) throw new CommandLineException($"--child must be synthetic or mnist; got '{child}'.");
            if (child == "synthetic") PathChecks.ExistingFile(data ?? throw new CommandLineException("--child synthetic needs --data, the rows' .idv file."),
                "--data");
            Console.WriteLine(new StreamingBenchmark(directory, seed, NullLogger.Instance).RunChild(child, data, stream, token).ToJsonString());
            return Task.FromResult(0);
        }
        var counts = rows.Split(',').Select(t => int.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture,
            out int n) && n is >= 100 and <= 10_000_000 ? n
            : throw new CommandLineException($"--rows must be row counts from 100 to 10000000, comma-separated; got '{rows}'.")).ToArray();
        using var logging = SavedModels.Logging(verbose);
        var report = new StreamingBenchmark(directory, seed, logging.CreateLogger("stream-bench")).Run(counts, token);
        Console.WriteLine($"{report["totalSeconds"]!.GetValue<double>():F0} s; wrote {directory}");
        return Task.FromResult(0);
    }
}
