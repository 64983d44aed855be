using System.CommandLine;
using System.Diagnostics;
using LatentDiffusion.IO;
using LatentDiffusion.MLNet.Generation;
using MnistLatentDiffusion.CommandLine;
using MnistLatentDiffusion.Reports;

namespace MnistLatentDiffusion.Commands;

/// <summary><c>generate</c>: digits from a saved model into a PNG grid (and raw floats), whole or one shard of the requests.</summary>
internal static class GenerateCommand
{
    public static Command Create(CommonOptions common)
    {
        var model = CliOptions.Model();
        var count = CliOptions.Integer("--count", "How many images", 100, 1, 1_000_000);
        var labels = new Option<string>("--labels")
        {
            Description = "Comma-separated digits to cycle through, or 'none' for unconditional", DefaultValueFactory = _ => "0,1,2,3,4,5,6,7,8,9",
        };
        var png = new Option<string>("--png") { Description = "Output PNG grid", DefaultValueFactory = _ => "generated.png" };
        var raw = new Option<string?>("--raw") { Description = "Also write the images as raw little-endian float32 (count x image size) to this file" };
        var shards = CommonOptions.Shards();
        var generate = new Command("generate", "Generate digits from a saved model into a PNG grid ('{index}' in --png and --raw becomes the shard index).");
        foreach (var option in (Option[])[model, count, labels, .. common.Sampling, png, raw, common.Seed, .. shards.All, common.Verbose])
            generate.Options.Add(option);
        generate.SetAction(Cli.Guarded(common.Verbose, (p, token) => Run(p.GetValue(model)!, p.GetValue(count), p.GetValue(labels)!, common.Flags(p),
            p.GetValue(png)!, p.GetValue(raw), p.GetValue(common.Seed), shards.Of(p), p.GetValue(common.Verbose), token)));
        return generate;
    }

    public static async Task<int> Run(string modelPath, int total, string labelText, SamplingFlags flags, string png, string? raw, int seed, Shard shard,
        bool verbose, CancellationToken token)
    {
        string pngPath = PathChecks.WritableFile(shard.Name(png), "--png");
        string? rawPath = raw is null ? null : PathChecks.WritableFile(shard.Name(raw), "--raw");
        var generator = flags.On(SavedModels.Generator(SavedModels.Context(), modelPath, "--model"));
        var cycle = ParseLabels(labelText, generator.Diffusion.Classes);
        // A shard takes whole sampling batches of the requests, so its images equal the single run's.
        var (start, end) = shard.Range(total, generator.Diffusion.Sampling.BatchSize);
        int count = end - start;
        if (count == 0)
        {
            Console.WriteLine($"{shard}: no requests (the {total} requests fill fewer batches than there are shards).");
            return 0;
        }
        var labels = Enumerable.Range(start, count).Select(i => cycle[i % cycle.Length]).ToArray();
        var seeds = Enumerable.Range(start, count).Select(i => (long)seed * 1_000_003 + i).ToArray();
        var clock = Stopwatch.StartNew();
        var images = await Ui.RunAsync(verbose, "generate", (_, _, stages) => Task.FromResult(InBatches(generator, labels, seeds, stages, token)));
        if (rawPath is not null)
        {
            var bytes = new byte[images.Length * sizeof(float)];
            Buffer.BlockCopy(images, 0, bytes, 0, bytes.Length);
            AtomicFile.WriteAllBytes(rawPath, bytes);
        }
        int size = generator.ImageSize;
        Pictures.SaveGrid(pngPath, Enumerable.Range(0, count).Select(i => images[(i * size)..((i + 1) * size)]).ToList(), Math.Min(10, count),
            generator.ImageShape);
        string which = shard.IsWhole ? $"{count} images" : $"{shard}: images {start}..{end - 1} of {total}";
        Console.WriteLine($"{which} in {clock.Elapsed.TotalSeconds:F1} s ({SamplingFlags.Describe(generator.Diffusion.Sampling)}) -> {pngPath}"
            + (rawPath is null ? "" : $" and {rawPath}"));
        return 0;
    }

    private static int[] ParseLabels(string text, int classes)
    {
        if (text.Trim().Equals("none", StringComparison.OrdinalIgnoreCase)) return [-1];
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var labels = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], out labels[i]) || labels[i] < 0 || labels[i] >= Math.Max(classes, 1) || classes == 0)
                throw new CommandLineException(classes == 0
                    ? $"--labels '{text}': the model is unconditional; give --labels none."
                    : $"--labels '{text}': each label must be a whole number in 0..{classes - 1}, or give 'none' for unconditional samples.");
        return labels;
    }

    /// <summary>Generates batch by batch, reporting progress and stopping between batches when cancelled.</summary>
    private static float[] InBatches(DigitGeneratorTransformer generator, int[] labels, long[] seeds, IProgress<StageProgress>? stages, CancellationToken token)
    {
        int size = generator.ImageSize, batch = generator.Diffusion.Sampling.BatchSize;
        var images = new float[labels.Length * size];
        for (int start = 0; start < labels.Length; start += batch)
        {
            token.ThrowIfCancellationRequested();
            int n = Math.Min(batch, labels.Length - start);
            generator.Generate(labels.AsSpan(start, n), seeds.AsSpan(start, n)).CopyTo(images, start * size);
            stages?.Report(new StageProgress("generating", start + n, labels.Length));
        }
        return images;
    }
}
