using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using LatentDiffusion.Diffusion;
using LatentDiffusion.IO;
using LatentDiffusion.MLNet;
using LatentDiffusion.MLNet.Generation;
using Microsoft.ML;
using Microsoft.ML.Data;
using MnistLatentDiffusion.Benchmarks;
using MnistLatentDiffusion.CommandLine;
using MnistLatentDiffusion.Reports;

namespace MnistLatentDiffusion.Commands;

/// <summary>
/// <c>bench</c>: generation throughput of a saved model's setting and of every solver, in GFLOP/s against the compute
/// ceiling measured in the same run, and streaming memory; merged into report.json.
/// </summary>
internal static class BenchCommand
{
    private const double MinBenchSeconds = 3;

    public static Command Create(CommonOptions common)
    {
        var model = CliOptions.Model();
        var output = CliOptions.Output("artifacts/default", "Folder whose report.json receives the figures");
        var memoryImages = CliOptions.Integer("--memory-images",
            "Also stream this many images through Transform (10 DDIM steps) and record resident memory along the way; 0 skips it", 0, 0, 10_000_000);
        var bench = new Command("bench",
            "Generation throughput of the saved setting (batch 1 and 256, and at 256 in the other number format) and of every solver "
            + "at 10/20/50 evaluations, GFLOP/s against the conv and matmul ceiling measured in the same run, peak memory, merged into report.json.")
            { model, output, common.Precision, memoryImages, common.Seed, common.Verbose };
        bench.SetAction(Cli.Guarded(common.Verbose, (p, token) => Run(p.GetValue(model)!, p.GetValue(output)!, p.GetValue(common.Precision),
            p.GetValue(memoryImages), p.GetValue(common.Seed), token)));
        return bench;
    }

    private static Task<int> Run(string modelPath, string outDirectory, string? precision, int memoryImages, int seed, CancellationToken token)
    {
        string directory = PathChecks.WritableFolder(outDirectory, "--out");
        var ml = SavedModels.Context();
        var generator = new SamplingFlags(Precision: precision).On(SavedModels.Generator(ml, modelPath, "--model"));
        var ceiling = ComputeCeiling.Measure(generator.Diffusion.Config, token);
        Console.WriteLine(ceiling.Describe());
        var results = new JsonArray();
        double best = 0;
        var cells = Cells(generator);
        foreach (var (options, batch) in cells)
        {
            token.ThrowIfCancellationRequested();
            var row = Measure(generator, options, batch, seed, ceiling, token);
            if (ReferenceEquals(options, cells[1].Options) && batch == 256) best = row["imagesPerSecond"]!.GetValue<double>();
            results.Add(row);
        }
        var memory = memoryImages > 0 ? StreamingMemory(ml, generator, memoryImages, seed, token) : null;
        MergeIntoReport(directory, new JsonObject
        {
            ["generation"] = results, ["streamingMemory"] = memory, ["denoiserForwardFlops"] = generator.Diffusion.DenoiserFlops,
            ["cpuPeakGflops"] = CpuPeakGflops(), ["ceiling"] = ceiling.ToJson(),
                ["peakWorkingSetMegabytes"] = Process.GetCurrentProcess().PeakWorkingSet64 / 1048576.0,
        }, best);
        return Task.FromResult(0);
    }

    /// <summary>The saved setting at batch 1 and 256, and in the other number format at 256; then every solver at 10, 20 and 50 evaluations.</summary>
    private static List<(SamplingOptions Options, int Batch)> Cells(DigitGeneratorTransformer generator)
    {
        var cells = new List<(SamplingOptions Options, int Batch)>();
        foreach (int batch in new[] { 1, 256 }) cells.Add((generator.Diffusion.Sampling, batch));
        var otherFormat = generator.Diffusion.Sampling;
        otherFormat.Precision = otherFormat.Precision == SamplingPrecision.BFloat16 ? SamplingPrecision.Float32 : SamplingPrecision.BFloat16;
        cells.Add((otherFormat, 256));
        foreach (var solver in SolverSweep.Solvers)
            foreach (int evaluations in new[] { 10, 20, 50 })
            {
                var options = generator.Diffusion.Sampling;
                options.Sampler = solver with { Steps = SolverSweep.StepsFor(solver, evaluations) };
                cells.Add((options, 256));
            }
        return cells;
    }

    /// <summary>Whole rounds of requests until at least <see cref="MinBenchSeconds"/> have passed, and the rate against the ceiling.</summary>
    private static JsonObject Measure(DigitGeneratorTransformer generator, SamplingOptions options, int batch, int seed, ComputeCeiling ceiling,
        CancellationToken token)
    {
        int n = batch == 1 ? 8 : 512;
        options.BatchSize = batch;
        var g = generator.WithSampling(options);
        g.Generate([0], [0]);
        // One round of 8 single requests at 10 steps lasts a fraction of a second, too short to time on a machine whose speed wanders.
        int generated = 0;
        var clock = Stopwatch.StartNew();
        do
        {
            token.ThrowIfCancellationRequested();
            g.Generate(Enumerable.Range(generated, n).Select(i => i % Math.Max(g.Diffusion.Classes, 1)).ToArray(),
                Enumerable.Range(generated, n).Select(i => (long)seed + i).ToArray());
            generated += n;
        }
        while (clock.Elapsed.TotalSeconds < MinBenchSeconds);
        double rate = generated / clock.Elapsed.TotalSeconds;
        double gflops = rate * g.Diffusion.SamplingFlopsPerSample / 1e9;
        double reference = options.Precision == SamplingPrecision.BFloat16 ? ceiling.ConvBFloat16 : ceiling.ConvFloat32;
        int evaluations = g.Diffusion.EvaluationsPerSample, passes = g.Diffusion.DenoiserPassesPerSample + g.Diffusion.AutoguidancePassesPerSample;
        Console.WriteLine($"{SamplingFlags.Describe(options)}, batch {batch,3}: {evaluations,2} evaluations, {passes,2} passes, {rate,8:F1} decoded images/s, "
            + $"denoiser {gflops:F1} GFLOP/s ({gflops / reference:P0} of the measured conv ceiling)");
        return new JsonObject
        {
            ["sampler"] = options.Sampler.Name, ["steps"] = options.Sampler.Steps, ["evaluations"] = evaluations, ["batchSize"] = batch,
            ["precision"] = options.Precision.ToString(), ["imagesPerSecond"] = rate, ["denoiserGflops"] = gflops, ["shareOfConvCeiling"] = gflops / reference,
            ["denoiserPassesPerImage"] = g.Diffusion.DenoiserPassesPerSample, ["autoguidancePassesPerImage"] = g.Diffusion.AutoguidancePassesPerSample,
        };
    }

    /// <summary>Puts the bench figures into the folder's report.json (a run's, or a new one) and its best rate into the throughput block.</summary>
    private static void MergeIntoReport(string directory, JsonObject bench, double best)
    {
        string reportPath = Path.Combine(directory, "report.json");
        var report = File.Exists(reportPath) ? JsonNode.Parse(File.ReadAllText(reportPath))!.AsObject() : new JsonObject();
        report["bench"] = bench;
        var throughput = report["throughput"] as JsonObject ?? new JsonObject();
        throughput["generationImagesPerSecondBench"] = best;
        report["throughput"] = throughput;
        if (report.ContainsKey("rows")) Report.Write(directory, report);
        else AtomicFile.WriteAllText(reportPath, report.ToJsonString(SavedModels.Indented));
        Console.WriteLine($"CPU peak (AVX-512 FMA, {Environment.ProcessorCount} cores, nominal clock): {CpuPeakGflops():F0} GFLOP/s; merged into {reportPath}");
    }

    /// <summary>
    /// Streams <paramref name="images"/> requests through the generator's Transform (10 DDIM steps, to keep it short)
    /// and reads the process's resident memory every tenth of the way: a long run must not grow.
    /// </summary>
    private static JsonObject StreamingMemory(MLContext ml, DigitGeneratorTransformer generator, int images, int seed, CancellationToken token)
    {
        var sampling = generator.Diffusion.Sampling;
        sampling.Sampler = new LatentDiffusion.Diffusion.Samplers.DdimSampler { Steps = 10 };
        var fast = generator.WithSampling(sampling);
        var requests = ml.Data.LoadFromEnumerable(Enumerable.Range(0, images)
            .Select(i => new GenerationRequest { Label = i % Math.Max(fast.Diffusion.Classes, 1), Seed = (long)seed * 7_000_003 + i }));
        var view = fast.Transform(requests);
        var readings = new JsonArray();
        var clock = Stopwatch.StartNew();
        long rows = 0;
        using (var cursor = view.GetRowCursor([view.Schema[fast.OutputColumnName]]))
        {
            var getter = cursor.GetGetter<VBuffer<float>>(view.Schema[fast.OutputColumnName]);
            VBuffer<float> image = default;
            while (cursor.MoveNext())
            {
                getter(ref image);
                if (++rows % Math.Max(images / 10, 1) != 0) continue;
                token.ThrowIfCancellationRequested();
                long resident = Process.GetCurrentProcess().WorkingSet64 >> 20;
                readings.Add(new JsonObject { ["images"] = rows, ["residentMegabytes"] = resident });
                Console.WriteLine($"{rows,9:N0} images streamed: resident memory {resident:N0} MB");
            }
        }
        var values = readings.Select(r => r!["residentMegabytes"]!.GetValue<long>()).ToArray();
        return new JsonObject
        {
            ["images"] = rows, ["steps"] = 10, ["seconds"] = clock.Elapsed.TotalSeconds, ["readings"] = readings,
            ["firstTenthMegabytes"] = values.FirstOrDefault(), ["lastMegabytes"] = values.LastOrDefault(), ["maxMegabytes"] = values.DefaultIfEmpty().Max(),
        };
    }

    /// <summary>Nominal fp32 peak: cores x 2 FMA units x 16 lanes x 2 flops x clock (from /proc/cpuinfo, else 2.5 GHz).</summary>
    private static double CpuPeakGflops()
    {
        double ghz = 2.5;
        try
        {
            var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("cpu MHz"));
            if (line is not null) ghz = double.Parse(line.Split(':')[1].Trim(), CultureInfo.InvariantCulture) / 1000;
        }
        catch (IOException) { }
        return Environment.ProcessorCount * 2 * 16 * 2 * ghz;
    }
}
