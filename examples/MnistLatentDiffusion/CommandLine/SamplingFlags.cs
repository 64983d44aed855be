using LatentDiffusion.Diffusion;
using LatentDiffusion.Diffusion.Samplers;
using LatentDiffusion.MLNet.Generation;

namespace MnistLatentDiffusion.CommandLine;

/// <summary>Sampling settings given on the command line; null keeps the model's saved setting.</summary>
public sealed record SamplingFlags(string? Sampler = null, int? Steps = null, double? Guidance = null, string? Band = null, string? Precision = null,
    double? Autoguidance = null, string? AutoguidanceBand = null, string? Spacing = null)
{
    /// <summary>The model's saved sampling settings with these put over them.</summary>
    public SamplingOptions Over(SamplingOptions saved)
    {
        var sampling = saved.Clone();
        if (Sampler is { } name) sampling.Sampler = SamplerRegistry.Create(name);
        if (Steps is { } steps) sampling.Sampler = sampling.Sampler with { Steps = steps, Timesteps = null };
        if (Spacing is { } spacing)
            sampling.Sampler = sampling.Sampler is SolverSampler solver
                ? solver with { Spacing = Enum.Parse<TimestepSpacing>(spacing, ignoreCase: true), Timesteps = null }
                : throw new CommandLineException($"--spacing applies only to the ODE solvers ({string.Join(", ", Cli.SolverNames)}); "
                    + $"{sampling.Sampler.Name.ToLowerInvariant()} places its steps evenly in time.");
        if (Guidance is { } guidance) sampling.GuidanceScale = guidance;
        if (Band is { } band) (sampling.GuidanceMinNoise, sampling.GuidanceMaxNoise, _) = CliOptions.ParseBand("--guidance-band", band);
        if (Autoguidance is { } a) sampling.AutoguidanceScale = a;
        if (AutoguidanceBand is { } ab) (sampling.AutoguidanceMinNoise, sampling.AutoguidanceMaxNoise, _) = CliOptions.ParseBand("--autoguidance-band", ab);
        if (Precision is { } precision)
            sampling.Precision = precision.Equals("bfloat16", StringComparison.OrdinalIgnoreCase) ? SamplingPrecision.BFloat16 : SamplingPrecision.Float32;
        return sampling;
    }

    /// <summary>These settings applied to a loaded generator; a setting the model cannot take (too many steps, autoguidance without its UNet) is a bad
    /// argument.</summary>
    public DigitGeneratorTransformer On(DigitGeneratorTransformer loaded)
    {
        try
        {
            return loaded.WithSampling(Over(loaded.Diffusion.Sampling));
        }
        catch (ArgumentOutOfRangeException e)
        {
            throw new CommandLineException($"{e.Message.Split(" (Parameter")[0]}".Replace("SamplingOptions.",
                "the model's ").TrimEnd() + " Check the sampling options.");
        }
    }

    /// <summary>A line that names the sampler, its steps, guidance, autoguidance and number format.</summary>
    public static string Describe(SamplingOptions s) =>
        $"{s.Sampler.Name.ToUpperInvariant()} {s.Sampler.Timesteps?.Length ?? s.Sampler.Steps,2} steps"
        + (s.Sampler.Timesteps is { } grid ? $" on [{string.Join(", ", grid)}]" : "")
        + $", guidance {s.GuidanceScale:0.##} on noise levels [{s.GuidanceMinNoise:0.##}, "
        + $"{s.GuidanceMaxNoise:0.##}], "
        + (s.AutoguidanceScale == 1 ? "" : $"autoguidance {s.AutoguidanceScale:0.##} on [{s.AutoguidanceMinNoise:0.##}, {s.AutoguidanceMaxNoise:0.##}], ")
        + s.Precision;
}
