using System.CommandLine;
using System.Globalization;
using System.Text;
using LatentDiffusion.Diffusion.Samplers;

namespace MnistLatentDiffusion;

/// <summary>
/// The command line: every sub-command and option in one place, each option checked on its own before any work
/// starts. A mistake prints one line that says what is wrong and what is allowed, and exits with 2 (bad arguments) or
/// 1 (a problem found while working); <c>--verbose</c> adds the stack trace. Ctrl+C stops any sub-command within
/// seconds (exit 130). The README's table of commands is printed from these definitions (<c>help-table</c>).
/// </summary>
public static class Cli
{
    /// <summary>The ODE solvers' names (the samplers that take --spacing), lower case.</summary>
    public static IEnumerable<string> SolverNames => SamplerRegistry.Names.Where(n => SamplerRegistry.Create(n) is SolverSampler).Select(n => n.ToLowerInvariant());

    public const int BadArguments = 2, Failed = 1, Stopped = 130;

    private static readonly string[] Presets = ["quick", "default", "full", "smoke"];

    public static async Task<int> InvokeAsync(string[] args)
    {
        var root = Build();
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            // A value that does not convert gets two errors: System.CommandLine's, which names a .NET type, and ours
            // (TryValue), which says what the option takes. Ours is the one to show.
            var error = parse.Errors.FirstOrDefault(e => !e.Message.StartsWith("Cannot parse argument", StringComparison.Ordinal)) ?? parse.Errors[0];
            Console.Error.WriteLine($"error: {OneLine(error.Message)} Run with --help to see the options.");
            return BadArguments;
        }
        // Ctrl+C cancels the token; actions stop at their next step, write what must be written, and return.
        var configuration = new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromSeconds(60), EnableDefaultExceptionHandler = false };
        return await parse.InvokeAsync(configuration);
    }

    private static string OneLine(string text) => string.Join(" ", text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    /// <summary>Runs an action: known failures become one line on stderr and an exit code; the stack trace only with --verbose.</summary>
    private static Func<ParseResult, CancellationToken, Task<int>> Guarded(Option<bool> verbose, Func<ParseResult, CancellationToken, Task<int>> action) =>
        async (parse, token) =>
        {
            try
            {
                return await action(parse, token);
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                Console.Error.WriteLine("Stopped by Ctrl+C; every file already written is complete.");
                return Stopped;
            }
            catch (CommandLineException e)
            {
                Console.Error.WriteLine($"error: {OneLine(e.Message)}");
                return BadArguments;
            }
            catch (Exception e) when (e is ArgumentException or InvalidDataException or IOException or UnauthorizedAccessException
                or InvalidOperationException or NotSupportedException or FormatException or TimeoutException)
            {
                // FormatException: ML.NET's word for a model file that is not a zip at all.
                Console.Error.WriteLine($"error: {OneLine(e.Message)}{(e.InnerException is { } inner ? $" ({OneLine(inner.Message)})" : "")}");
                if (parse.GetValue(verbose)) Console.Error.WriteLine(e);
                return Failed;
            }
            catch (Exception e)
            {
                Console.Error.WriteLine($"error: unexpected {e.GetType().Name}: {OneLine(e.Message)}{(parse.GetValue(verbose) ? "" : " (--verbose shows where)")}");
                if (parse.GetValue(verbose)) Console.Error.WriteLine(e);
                return Failed;
            }
        };

    private static Option<int> Integer(string name, string description, int defaultValue, int min, int max)
    {
        var option = new Option<int>(name) { Description = $"{description} ({min}..{max})", DefaultValueFactory = _ => defaultValue };
        option.Validators.Add(result =>
        {
            if (!TryValue(result, name, $"a whole number between {min} and {max}", out int value)) return;
            if (value < min || value > max) result.AddError($"{name} must be between {min} and {max}, got {value}.");
        });
        return option;
    }

    /// <summary>
    /// The option's value, or false after adding one error that names the option, what it takes and the text given:
    /// System.CommandLine throws from <c>GetValueOrDefault</c> inside a validator when the text does not convert.
    /// </summary>
    private static bool TryValue<T>(System.CommandLine.Parsing.OptionResult result, string name, string expected, out T? value)
    {
        try
        {
            value = result.GetValueOrDefault<T>();
            return true;
        }
        catch (InvalidOperationException)
        {
            value = default;
            result.AddError($"{name} must be {expected}, got '{string.Join(" ", result.Tokens.Select(t => t.Value))}'.");
            return false;
        }
    }

    private static Option<string> Choice(string name, string description, string defaultValue, params string[] choices)
    {
        var option = new Option<string>(name) { Description = $"{description}: {string.Join(", ", choices)}", DefaultValueFactory = _ => defaultValue };
        option.Validators.Add(result =>
        {
            string value = result.GetValueOrDefault<string>() ?? "";
            if (!choices.Contains(value, StringComparer.OrdinalIgnoreCase)) result.AddError($"{name} must be one of {string.Join(", ", choices)}, got '{value}'.");
        });
        return option;
    }

    private static Option<string?> OptionalChoice(string name, string description, params string[] choices)
    {
        var option = new Option<string?>(name) { Description = $"{description}: {string.Join(", ", choices)}" };
        option.Validators.Add(result =>
        {
            string? value = result.GetValueOrDefault<string?>();
            if (value is not null && !choices.Contains(value, StringComparer.OrdinalIgnoreCase)) result.AddError($"{name} must be one of {string.Join(", ", choices)}, got '{value}'.");
        });
        return option;
    }

    private static Option<double?> Number(string name, string description, double min, double max)
    {
        var option = new Option<double?>(name) { Description = description };
        option.Validators.Add(result =>
        {
            if (!TryValue(result, name, $"a number between {min} and {max}", out double? value)) return;
            if (value is { } v && (!double.IsFinite(v) || v < min || v > max)) result.AddError($"{name} must be a number between {min} and {max}, got {v}.");
        });
        return option;
    }

    private static Option<string?> Band(string name, string description)
    {
        var option = new Option<string?>(name) { Description = description };
        option.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<string?>() is { } text && ParseBand(name, text) is { Error: { } error }) result.AddError(error);
        });
        return option;
    }

    internal static (double Low, double High, string? Error) ParseBand(string name, string text)
    {
        var ends = text.Split(',');
        if (ends.Length != 2 || !double.TryParse(ends[0], NumberStyles.Float, CultureInfo.InvariantCulture, out double low)
            || !double.TryParse(ends[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double high))
            return (0, 0, $"{name} must be LOW,HIGH, for example 0.4,0.9; got '{text}'.");
        if (low < 0 || high > 1 || low > high) return (0, 0, $"{name} must satisfy 0 <= LOW <= HIGH <= 1; got '{text}'.");
        return (low, high, null);
    }

    public static RootCommand Build()
    {
        var seed = new Option<int>("--seed") { Description = "Seed of every random choice", DefaultValueFactory = _ => 1 };
        seed.Validators.Add(r => TryValue(r, "--seed", "a whole number", out int _));
        var verbose = new Option<bool>("--verbose") { Description = "Debug logging, plain log lines instead of progress bars, stack traces with errors" };
        var preset = Choice("--preset", "Sizes of the run", "default", Presets);
        var output = new Option<string?>("--out") { Description = "Output folder (default artifacts/<preset>)" };
        var device = Choice("--device", "Where to compute", "cpu", "cpu", "cuda", "auto");
        var resume = new Option<bool>("--resume") { Description = "Continue from the training checkpoints in the output folder (written every 5 minutes and on Ctrl+C)" };

        var root = new RootCommand("LatentDiffusion for ML.NET: train a latent diffusion model on MNIST, generate digits, score them with FID.")
        {
            preset, output, device, seed, resume, verbose,
        };
        Func<ParseResult, CancellationToken, Task<int>> run = (parse, token) => Commands.RunAsync(parse.GetValue(preset)!, parse.GetValue(output),
            parse.GetValue(device)!, parse.GetValue(seed), parse.GetValue(resume), parse.GetValue(verbose), token);
        root.SetAction(Guarded(verbose, run));
        var train = new Command("train", "The same as the bare run: train every model, evaluate, write the model zip, pictures and report.") { preset, output, device, seed, resume, verbose };
        train.SetAction(Guarded(verbose, run));
        root.Subcommands.Add(train);

        // Sampling settings: each overrides the model's saved one.
        var sampler = OptionalChoice("--sampler", "The reverse process (default: the model's saved setting)",
            SamplerRegistry.Names.Select(n => n.ToLowerInvariant()).ToArray());
        var spacing = OptionalChoice("--spacing", $"Where the ODE solvers ({string.Join(", ", SolverNames)}) place their steps (default: the model's saved setting)",
            Enum.GetNames<TimestepSpacing>().Select(n => n.ToLowerInvariant()).ToArray());
        var steps = new Option<int?>("--steps") { Description = "Denoising steps, 1..T (default: the model's saved setting)" };
        steps.Validators.Add(r => { if (TryValue(r, "--steps", "a whole number of at least 1", out int? value) && value is < 1) r.AddError($"--steps must be at least 1, got {value}."); });
        var guidance = Number("--guidance", "Classifier-free guidance scale, 0 = unconditional, 1 = conditional (default: the model's saved setting)", 0, 100);
        var band = Band("--guidance-band", "Noise levels t/T where guidance applies, as LOW,HIGH (default: the model's saved setting)");
        var autoguidance = Number("--autoguidance", "Autoguidance scale, 1 = off; needs a model trained with an autoguidance UNet (default: the model's saved setting)", 1, 100);
        var autoguidanceBand = Band("--autoguidance-band", "Noise levels t/T where autoguidance applies, as LOW,HIGH (default: the model's saved setting)");
        var precision = OptionalChoice("--precision", "The denoisers' number format while sampling (default: the model's saved setting)", "float32", "bfloat16");
        SamplingFlags Flags(ParseResult p) => new(p.GetValue(sampler), p.GetValue(steps), p.GetValue(guidance), p.GetValue(band), p.GetValue(precision),
            p.GetValue(autoguidance), p.GetValue(autoguidanceBand), p.GetValue(spacing));

        var model = new Option<string>("--model") { Description = "A saved model zip (a run's model.zip)", Required = true };
        var count = Integer("--count", "How many images", 100, 1, 1_000_000);
        var labels = new Option<string>("--labels") { Description = "Comma-separated digits to cycle through, or 'none' for unconditional", DefaultValueFactory = _ => "0,1,2,3,4,5,6,7,8,9" };
        var png = new Option<string>("--png") { Description = "Output PNG grid", DefaultValueFactory = _ => "generated.png" };
        var raw = new Option<string?>("--raw") { Description = "Also write the images as raw little-endian float32 (count x image size) to this file" };
        // Shards, as the pods of a Kubernetes Indexed Job run them (README, "Running on a cluster").
        Option<string?> ShardOption() => new("--shard") { Description = "Only shard INDEX/COUNT of the requests (whole batches; 2/8 is the third of eight)" };
        Option<int?> ShardIndex() => new("--shard-index") { Description = "This shard's index, 0..count-1 (default: $JOB_COMPLETION_INDEX)" };
        Option<int?> ShardCount() => new("--shard-count") { Description = "The number of shards the requests are split into" };
        var generateShard = ShardOption();
        var generateShardIndex = ShardIndex();
        var generateShardCount = ShardCount();
        var generate = new Command("generate", "Generate digits from a saved model into a PNG grid ('{index}' in --png and --raw becomes the shard index).")
        {
            model, count, labels, sampler, spacing, steps, guidance, band, autoguidance, autoguidanceBand, precision, png, raw, seed,
            generateShard, generateShardIndex, generateShardCount, verbose,
        };
        generate.SetAction(Guarded(verbose, (p, token) => Commands.Generate(p.GetValue(model)!, p.GetValue(count), p.GetValue(labels)!, Flags(p),
            p.GetValue(png)!, p.GetValue(raw), p.GetValue(seed),
            Shard.From(p.GetValue(generateShard), p.GetValue(generateShardIndex), p.GetValue(generateShardCount), Environment.GetEnvironmentVariable),
            p.GetValue(verbose), token)));
        root.Subcommands.Add(generate);

        var classifier = new Option<string>("--classifier") { Description = "The FID classifier zip written by a run", DefaultValueFactory = _ => "artifacts/default/classifier.zip" };
        var folder = new Option<string?>("--folder") { Description = "A folder of images (PNG, JPEG) to score; labels from --labels-file or from sub-folders named 0..9" };
        var labelsFile = new Option<string?>("--labels-file") { Description = "CSV lines 'file,label' giving the label each image of --folder was meant to show" };
        var evaluatedModel = new Option<string?>("--model") { Description = "A saved model zip to score: it generates --count class-balanced images" };
        var evaluateCount = Integer("--count", "Images to generate with --model", 10_000, 2, 1_000_000);
        var referenceCount = Integer("--reference-count", "Test digits to compare with (the whole test split by default)", 10_000, 2, 10_000);
        var json = new Option<string>("--json") { Description = "Where to write the results as JSON", DefaultValueFactory = _ => "evaluation.json" };
        var evaluateShard = ShardOption();
        var evaluateShardIndex = ShardIndex();
        var evaluateShardCount = ShardCount();
        var statsOut = new Option<string?>("--stats-out") { Description = "Write the evaluated images' FID statistics to this file ('{index}' becomes the shard index)" };
        var referenceStatsOut = new Option<string?>("--reference-stats-out") { Description = "Write the test digits' FID statistics to this file (alone: only that)" };
        var merge = new Option<string[]?>("--merge")
        {
            Description = "Statistics files of shards to merge and score against --reference (no model or classifier needed)",
            AllowMultipleArgumentsPerToken = true, Arity = ArgumentArity.OneOrMore,
        };
        var reference = new Option<string?>("--reference") { Description = "Statistics of the real images to compare with, instead of computing them" };
        var evaluate = new Command("evaluate", "FID, KID, precision/recall, accuracy and label entropy of a folder of images or a saved model (with the network "
            + "passes per image it spent) against the MNIST test split; or one shard's statistics; or the merge of shards' statistics.")
        {
            classifier, folder, labelsFile, evaluatedModel, evaluateCount, referenceCount, sampler, spacing, steps, guidance, band, autoguidance,
            autoguidanceBand, precision, json, seed, evaluateShard, evaluateShardIndex, evaluateShardCount, statsOut, referenceStatsOut, merge, reference, verbose,
        };
        evaluate.Validators.Add(result =>
        {
            bool hasFolder = result.GetValue(folder) is not null, hasModel = result.GetValue(evaluatedModel) is not null;
            bool merging = result.GetValue(merge) is { Length: > 0 }, sharded = result.GetValue(evaluateShard) is not null || result.GetValue(evaluateShardCount) is not null;
            if (merging)
            {
                if (hasFolder || hasModel || sharded) result.AddError("--merge scores statistics files alone: drop --folder, --model and the shard options.");
                return;
            }
            if (hasFolder && hasModel) result.AddError("evaluate takes one of --folder and --model, not both.");
            if (!hasFolder && !hasModel && result.GetValue(referenceStatsOut) is null)
                result.AddError("evaluate needs --folder or --model (or --merge, or --reference-stats-out alone).");
            if (result.GetValue(labelsFile) is not null && !hasFolder) result.AddError("--labels-file goes with --folder.");
            if (sharded && !hasModel) result.AddError("the shard options go with --model: a shard is a block of the model's requests.");
            if (sharded && result.GetValue(statsOut) is null) result.AddError("a shard's result is its statistics: give --stats-out.");
        });
        evaluate.SetAction(Guarded(verbose, (p, token) => Commands.Evaluate(new Commands.EvaluateRequest(p.GetValue(classifier)!, p.GetValue(folder),
            p.GetValue(labelsFile), p.GetValue(evaluatedModel), p.GetValue(evaluateCount), p.GetValue(referenceCount), Flags(p), p.GetValue(json)!,
            p.GetValue(seed), p.GetValue(verbose),
            Shard.From(p.GetValue(evaluateShard), p.GetValue(evaluateShardIndex), p.GetValue(evaluateShardCount), Environment.GetEnvironmentVariable),
            p.GetValue(statsOut), p.GetValue(referenceStatsOut), p.GetValue(merge) is { Length: > 0 } files ? files : null, p.GetValue(reference)), token)));
        root.Subcommands.Add(evaluate);

        var benchOut = new Option<string>("--out") { Description = "Folder whose report.json receives the figures", DefaultValueFactory = _ => "artifacts/default" };
        var memoryImages = Integer("--memory-images", "Also stream this many images through Transform (10 DDIM steps) and record resident memory along the way; 0 skips it", 0, 0, 10_000_000);
        var bench = new Command("bench", "Generation throughput of the saved setting (batch 1 and 256, and at 256 in the other number format) and of every solver at 10/20/50 evaluations, GFLOP/s against the conv and matmul ceiling measured in the same run, peak memory, merged into report.json.")
            { model, benchOut, precision, memoryImages, seed, verbose };
        bench.SetAction(Guarded(verbose, (p, token) => Commands.Bench(p.GetValue(model)!, p.GetValue(benchOut)!, p.GetValue(precision), p.GetValue(memoryImages), p.GetValue(seed), token)));
        root.Subcommands.Add(bench);

        var toyOut = new Option<string>("--out") { Description = "Output folder", DefaultValueFactory = _ => "artifacts/toy" };
        var toyEpochs = Integer("--epochs", "Training epochs per model", new ToySettings().Epochs, 1, 10_000);
        var toyRows = Integer("--rows", "Training rows per set (seed 001: 131072)", new ToySettings().Rows, 100, 10_000_000);
        var toy = new Command("toy", "Seed 001's point clouds: an MLP denoiser per set and objective, checks against the true distributions, scatter plots, denoising strips, report.json.")
            { toyOut, toyEpochs, toyRows, seed, verbose };
        toy.SetAction(Guarded(verbose, (p, token) => Commands.Toy(p.GetValue(toyOut)!, p.GetValue(toyEpochs), p.GetValue(toyRows), p.GetValue(seed), p.GetValue(verbose), token)));
        root.Subcommands.Add(toy);

        var budgets = new Option<string>("--budgets") { Description = "Training budgets in minutes, comma-separated", DefaultValueFactory = _ => "5,10,20" };
        budgets.Validators.Add(r =>
        {
            string text = r.GetValueOrDefault<string>() ?? "";
            if (text.Split(',').Any(t => !double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !(v > 0) || v > 24 * 60))
                r.AddError($"--budgets must be minutes above 0 (at most a day), comma-separated, for example 5,10,20; got '{text}'.");
        });
        var compareSamples = Integer("--samples", "Generated images per run, and reference images for FID", 2000, 10, 100_000);
        var compareOut = new Option<string>("--out") { Description = "Output folder", DefaultValueFactory = _ => "artifacts/latent-vs-pixel" };
        var compare = new Command("compare", "Latent against pixel diffusion under equal wall-clock training budgets: FID, accuracy and speed of each, report.json and fid-vs-time.png.")
            { budgets, compareSamples, compareOut, seed, verbose };
        compare.SetAction(Guarded(verbose, (p, token) => Commands.Compare(p.GetValue(budgets)!, p.GetValue(compareSamples), p.GetValue(compareOut)!, p.GetValue(seed), p.GetValue(verbose), token)));
        root.Subcommands.Add(compare);

        var sweepClassifier = new Option<string>("--classifier") { Description = "The FID classifier zip a run writes (classifier.zip)", Required = true };
        var sweepOut = new Option<string>("--out") { Description = "Output folder", DefaultValueFactory = _ => "artifacts/sweep" };
        var sweepCount = Integer("--count", "Requests per held-out set (and training digits per floor block)", 5_000, 100, 60_000 / 3);
        var sweepSets = Integer("--sets", "Held-out request sets per setting", 3, 2, 10);
        var sweepTune = Integer("--tune-count", "Requests in the tuning set", 2_000, 100, 10_000);
        var sweepEvaluations = new Option<string>("--evaluations") { Description = "Sampler evaluations per image to measure, comma-separated", DefaultValueFactory = _ => "5,8,10,15,20,50" };
        sweepEvaluations.Validators.Add(r =>
        {
            string text = r.GetValueOrDefault<string>() ?? "";
            if (text.Split(',').Any(t => !int.TryParse(t, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) || v is < 1 or > 1000))
                r.AddError($"--evaluations must be whole numbers in 1..1000, comma-separated, for example 5,10,20; got '{text}'.");
        });
        var sweepSolvers = new Option<string>("--solvers")
        {
            Description = "Samplers to sweep, comma-separated", DefaultValueFactory = _ => string.Join(",", SolverSweep.Solvers.Select(s => s.Name.ToLowerInvariant())),
        };
        sweepSolvers.Validators.Add(r =>
        {
            string text = r.GetValueOrDefault<string>() ?? "";
            if (text.Split(',').Any(t => SamplerRegistry.Find(t) is null))
                r.AddError($"--solvers must be sampler names from {string.Join(", ", SamplerRegistry.Names.Select(n => n.ToLowerInvariant()))}, comma-separated; got '{text}'.");
        });
        var sweep = new Command("sweep", "Every sampler at several evaluation budgets on a saved model: guidance tuned per solver, FID and accuracy on held-out sets, images/s, report.json, sweep.md, fid-vs-evaluations.png.")
            { model, sweepClassifier, sweepOut, sweepCount, sweepSets, sweepTune, sweepEvaluations, sweepSolvers, verbose };
        sweep.SetAction(Guarded(verbose, (p, token) => Commands.Sweep(p.GetValue(model)!, p.GetValue(sweepClassifier)!, p.GetValue(sweepOut)!, p.GetValue(sweepCount),
            p.GetValue(sweepSets), p.GetValue(sweepTune), p.GetValue(sweepEvaluations)!, p.GetValue(sweepSolvers)!, p.GetValue(verbose), token)));
        root.Subcommands.Add(sweep);

        var mergeReports = new Option<string>("--reports") { Description = "The sweeps' report.json files, comma-separated", Required = true };
        var mergeOut = new Option<string>("--out") { Description = "Output folder", DefaultValueFactory = _ => "artifacts/sweep" };
        var sweepMerge = new Command("sweep-merge", "One table, plot and report.json from several sweeps of the same model and classifier (for example, solvers swept separately).")
            { mergeReports, mergeOut, verbose };
        sweepMerge.SetAction(Guarded(verbose, (p, token) => Commands.SweepMerge(p.GetValue(mergeReports)!, p.GetValue(mergeOut)!, p.GetValue(verbose), token)));
        root.Subcommands.Add(sweepMerge);

        var variantsClassifier = new Option<string>("--classifier") { Description = "The FID classifier zip a run writes (classifier.zip)", Required = true };
        var variantsOut = new Option<string>("--out") { Description = "Output folder", DefaultValueFactory = _ => "artifacts/vae-variants" };
        var variantNames = new Option<string>("--variants") { Description = $"Autoencoders to train, comma-separated: {string.Join(", ", VaeVariants.Known.Keys)}", DefaultValueFactory = _ => "plain,residual" };
        variantNames.Validators.Add(r =>
        {
            string text = r.GetValueOrDefault<string>() ?? "";
            if (text.Split(',').Any(t => !VaeVariants.Known.ContainsKey(t)))
                r.AddError($"--variants must be names from {string.Join(", ", VaeVariants.Known.Keys)}, comma-separated; got '{text}'.");
        });
        var variantEpochs = Integer("--epochs", "Training epochs of every variant", 8, 1, 1000);
        var variantCount = Integer("--count", "Training images per scored block (3 blocks)", 10_000, 100, 20_000);
        var variants = new Command("vae-variants", "Autoencoder variants trained on the training split and scored side by side: reconstruction FID over the floor, test MSE, latent spread, time; report.json, variants.md, reconstructions.png.")
            { variantsClassifier, variantsOut, variantNames, variantEpochs, variantCount, seed, verbose };
        variants.SetAction(Guarded(verbose, (p, token) => Commands.VaeVariants(p.GetValue(variantsClassifier)!, p.GetValue(variantsOut)!, p.GetValue(variantNames)!,
            p.GetValue(variantEpochs), p.GetValue(variantCount), p.GetValue(seed), p.GetValue(verbose), token)));
        root.Subcommands.Add(variants);

        var colourOut = new Option<string>("--out") { Description = "Output folder", DefaultValueFactory = _ => "artifacts/colour" };
        var colour = new Command("colour", "Colour images through ImageAnalytics: writes coloured shapes as PNGs, trains a VAE and a diffusion model on them, writes a colour sample grid and report.json.")
            { colourOut, seed, verbose };
        colour.SetAction(Guarded(verbose, (p, token) => Commands.Colour(p.GetValue(colourOut)!, p.GetValue(seed), p.GetValue(verbose), token)));
        root.Subcommands.Add(colour);

        var exportModel = new Option<string>("--model") { Description = "A saved model zip (a run's model.zip)", Required = true };
        var exportOut = new Option<string>("--out") { Description = "Output folder for the ONNX files and their description", DefaultValueFactory = _ => "artifacts/onnx" };
        var export = new Command("export", "Export a saved generator for ONNX Runtime: denoiser.onnx, autoguidance.onnx (if any), decoder.onnx (if any) and latent-diffusion.json (shapes, schedule, standardisation, sampler settings).")
            { exportModel, exportOut, verbose };
        export.SetAction(Guarded(verbose, (p, _) => Commands.Export(p.GetValue(exportModel)!, p.GetValue(exportOut)!)));
        root.Subcommands.Add(export);

        var deployModel = new Option<string>("--model") { Description = "A saved model zip (a run's model.zip)", Required = true };
        var deployOut = new Option<string>("--out") { Description = "Output folder", DefaultValueFactory = _ => "artifacts/onnx-bench" };
        var deployCount = Integer("--count", "Requests per set", 512, 1, 100_000);
        var deploySets = Integer("--sets", "Held-out request sets", 3, 1, 20);
        var deploy = new Command("onnx-bench", "ONNX Runtime against TorchSharp on a saved generator: exports it, generates the same held-out requests with each engine; images/s, open-to-first-image time, per-pixel differences; report.json, engines.png.")
            { deployModel, deployOut, deployCount, deploySets, verbose };
        deploy.SetAction(Guarded(verbose, (p, _) => Commands.OnnxBench(p.GetValue(deployModel)!, p.GetValue(deployOut)!, p.GetValue(deployCount), p.GetValue(deploySets))));
        root.Subcommands.Add(deploy);

        var streamOut = new Option<string>("--out") { Description = "Output folder", DefaultValueFactory = _ => "artifacts/stream-bench" };
        var streamRows = new Option<string>("--rows") { Description = "Synthetic row counts, comma-separated", DefaultValueFactory = _ => "10000,100000,1000000" };
        var streamChild = new Option<string?>("--child") { Hidden = true };
        var streamData = new Option<string?>("--data") { Hidden = true };
        var streamMode = new Option<bool>("--stream") { Hidden = true };
        var streamBench = new Command("stream-bench", "Training data in memory against streamed: peak memory against rows (synthetic 1x16x16 rows), and training throughput on MNIST (VAE, then diffusion on cached latents); report.json, streaming.md.")
            { streamOut, streamRows, streamChild, streamData, streamMode, seed, verbose };
        streamBench.SetAction(Guarded(verbose, (p, token) => Commands.StreamBench(p.GetValue(streamOut)!, p.GetValue(streamRows)!, p.GetValue(streamChild),
            p.GetValue(streamData), p.GetValue(streamMode), p.GetValue(seed), p.GetValue(verbose), token)));
        root.Subcommands.Add(streamBench);

        var reportJson = new Argument<string>("report.json") { Description = "A run's report.json" };
        var render = new Command("render-report", "Write report.md again beside a run's report.json (after a change to how reports read).") { Hidden = true };
        render.Arguments.Add(reportJson);
        render.SetAction(Guarded(verbose, (p, _) =>
        {
            string path = p.GetValue(reportJson)!;
            if (!File.Exists(path)) throw new CommandLineException($"report.json '{path}': no such file.");
            var report = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path))!.AsObject();
            LatentDiffusion.IO.AtomicFile.WriteAllText(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, "report.md"), Report.Markdown(report));
            return Task.FromResult(0);
        }));
        root.Subcommands.Add(render);

        var table = new Command("help-table", "Print the table of sub-commands and options as Markdown (the README's table).") { Hidden = true };
        table.SetAction(_ => { Console.Write(Markdown(root)); return 0; });
        root.Subcommands.Add(table);
        return root;
    }

    /// <summary>The README's table of commands, from the definitions above.</summary>
    public static string Markdown(RootCommand root)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| command | what it does | options |");
        sb.AppendLine("| --- | --- | --- |");
        string Options(Command c) => string.Join(", ", c.Options.Where(o => !o.Hidden && o.Name is not ("--help" or "-h" or "-?" or "--version"))
            .Select(o => $"`{o.Name}`"));
        sb.AppendLine($"| (none) | {root.Description} | {Options(root)} |");
        foreach (var c in root.Subcommands.Where(c => !c.Hidden))
            sb.AppendLine($"| `{c.Name}` | {c.Description} | {Options(c)} |");
        return sb.ToString();
    }
}

/// <summary>A mistake in the arguments found while checking them against the world (a missing file, an unwritable folder).</summary>
internal sealed class CommandLineException(string message) : Exception(message);

/// <summary>Sampling settings given on the command line; null keeps the model's saved setting.</summary>
public sealed record SamplingFlags(string? Sampler = null, int? Steps = null, double? Guidance = null, string? Band = null, string? Precision = null,
    double? Autoguidance = null, string? AutoguidanceBand = null, string? Spacing = null);

/// <summary>Checks of paths given on the command line, made before any long work starts; none of them creates anything.</summary>
internal static class PathChecks
{
    public static string ExistingFile(string path, string option)
    {
        if (Directory.Exists(path)) throw new CommandLineException($"{option} '{path}' is a folder; give a file.");
        if (!File.Exists(path)) throw new CommandLineException($"{option} '{path}': no such file (looked in {Path.GetFullPath(path)}).");
        return Path.GetFullPath(path);
    }

    public static string ExistingFolder(string path, string option)
    {
        if (!Directory.Exists(path)) throw new CommandLineException($"{option} '{path}': no such folder (looked in {Path.GetFullPath(path)}).");
        return Path.GetFullPath(path);
    }

    /// <summary>A folder that files can be written into: it exists and takes a file, or its nearest existing parent does (it is not created here).</summary>
    public static string WritableFolder(string path, string option)
    {
        string full = Path.GetFullPath(path);
        if (File.Exists(full)) throw new CommandLineException($"{option} '{path}' is a file; give a folder.");
        if (FolderProblem(full) is { } problem) throw new CommandLineException($"{option} '{path}' cannot be written: {problem}.");
        return full;
    }

    public static string WritableFile(string path, string option)
    {
        string full = Path.GetFullPath(path);
        if (Directory.Exists(full)) throw new CommandLineException($"{option} '{path}' is a folder; give a file name.");
        if (FolderProblem(Path.GetDirectoryName(full)!) is { } problem) throw new CommandLineException($"{option} '{path}' cannot be written: {problem}.");
        return full;
    }

    /// <summary>Why files cannot be written into <paramref name="folder"/> (an absolute path), or null when they can.</summary>
    private static string? FolderProblem(string folder)
    {
        var existing = new DirectoryInfo(folder);
        while (!existing.Exists)
        {
            // A file where a folder of the path should be: nothing could ever be written below it.
            if (File.Exists(existing.FullName)) return $"{existing.FullName} is a file, not a folder";
            existing = existing.Parent!;
            if (existing is null) return "no part of the path exists";
        }
        string probe = Path.Combine(existing.FullName, $".write-check-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            File.WriteAllBytes(probe, []);
            File.Delete(probe);
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"{existing.FullName} does not accept files ({e.Message})";
        }
    }
}
