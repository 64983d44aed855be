using System.CommandLine;
using LatentDiffusion.Diffusion.Samplers;

namespace MnistLatentDiffusion.CommandLine;

/// <summary>The options several commands share: the seed, verbosity, the sampling settings a saved model's can be overridden with, shards.</summary>
internal sealed class CommonOptions
{
    public Option<int> Seed { get; } = SeedOption();

    public Option<bool> Verbose { get; } = new("--verbose") { Description = "Debug logging, plain log lines instead of progress bars, stack traces with "
        + "errors" };

    // Sampling settings: each overrides the model's saved one.
    public Option<string?> Sampler { get; } = CliOptions.OptionalChoice("--sampler", "The reverse process (default: the model's saved setting)",
        [.. SamplerRegistry.Names.Select(n => n.ToLowerInvariant())]);

    public Option<string?> Spacing { get; } = CliOptions.OptionalChoice("--spacing",
        $"Where the ODE solvers ({string.Join(", ", Cli.SolverNames)}) place their steps (default: the model's saved setting)",
        [.. Enum.GetNames<TimestepSpacing>().Select(n => n.ToLowerInvariant())]);

    public Option<int?> Steps { get; } = StepsOption();

    public Option<double?> Guidance { get; } =
        CliOptions.Number("--guidance", "Classifier-free guidance scale, 0 = unconditional, 1 = conditional (default: the model's saved setting)", 0, 100);

    public Option<string?> Band { get; } = CliOptions.Band("--guidance-band",
        "Noise levels t/T where guidance applies, as LOW,HIGH (default: the model's saved setting)");

    public Option<double?> Autoguidance { get; } = CliOptions.Number("--autoguidance",
        "Autoguidance scale, 1 = off; needs a model trained with an autoguidance UNet (default: the model's saved setting)", 1, 100);

    public Option<string?> AutoguidanceBand { get; } =
        CliOptions.Band("--autoguidance-band", "Noise levels t/T where autoguidance applies, as LOW,HIGH (default: the model's saved setting)");

    public Option<string?> Precision { get; } =
        CliOptions.OptionalChoice("--precision", "The denoisers' number format while sampling (default: the model's saved setting)", "float32", "bfloat16");

    /// <summary>The sampling options, to add to a command.</summary>
    public Option[] Sampling => [Sampler, Spacing, Steps, Guidance, Band, Autoguidance, AutoguidanceBand, Precision];

    /// <summary>The sampling settings given on the command line.</summary>
    public SamplingFlags Flags(ParseResult p) => new(p.GetValue(Sampler), p.GetValue(Steps), p.GetValue(Guidance), p.GetValue(Band), p.GetValue(Precision),
        p.GetValue(Autoguidance), p.GetValue(AutoguidanceBand), p.GetValue(Spacing));

    /// <summary>A fresh set of shard options (as the pods of a Kubernetes Indexed Job run them: README, "Running on a cluster").</summary>
    public static ShardOptions Shards() => new();

    private static Option<int> SeedOption()
    {
        var seed = new Option<int>("--seed") { Description = "Seed of every random choice", DefaultValueFactory = _ => 1 };
        seed.Validators.Add(r => CliOptions.TryValue(r, "--seed", "a whole number", out int _));
        return seed;
    }

    private static Option<int?> StepsOption()
    {
        var steps = new Option<int?>("--steps") { Description = "Denoising steps, 1..T (default: the model's saved setting)" };
        steps.Validators.Add(r =>
        {
            if (CliOptions.TryValue(r, "--steps", "a whole number of at least 1",
                out int? value) && value is < 1) r.AddError($"--steps must be at least 1, got {value}.");
        });
        return steps;
    }
}

/// <summary>The options that pick one shard of a command's requests.</summary>
internal sealed class ShardOptions
{
    public Option<string?> Shard { get; } = new("--shard") { Description = "Only shard INDEX/COUNT of the requests (whole batches; 2/8 is the third of "
        + "eight)" };

    public Option<int?> Index { get; } = new("--shard-index") { Description = "This shard's index, 0..count-1 (default: $JOB_COMPLETION_INDEX)" };

    public Option<int?> Count { get; } = new("--shard-count") { Description = "The number of shards the requests are split into" };

    public Option[] All => [Shard, Index, Count];

    /// <summary>Whether any shard option was given.</summary>
    public bool Given(System.CommandLine.Parsing.CommandResult result) => result.GetValue(Shard) is not null || result.GetValue(Count) is not null;

    /// <summary>The shard asked for (the index from the environment when only the count is given).</summary>
    public CommandLine.Shard Of(ParseResult p) =>
        CommandLine.Shard.From(p.GetValue(Shard), p.GetValue(Index), p.GetValue(Count), Environment.GetEnvironmentVariable);
}
