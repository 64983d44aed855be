using LatentDiffusion.Diffusion;

namespace LatentDiffusion.MLNet.Generation;

/// <summary>Options of <see cref="DigitGenerator"/>.</summary>
public sealed class DigitGeneratorOptions
{
    /// <summary>Optional integer label column of requests (-1 or absent = unconditional). Default "Label".</summary>
    public string LabelColumnName { get; set; } = "Label";
    /// <summary>Optional integer seed column; without it seeds come from <see cref="Seed"/> and the row position. Default "Seed".</summary>
    public string SeedColumnName { get; set; } = "Seed";
    /// <summary>Output: images as Vector&lt;Single, image size&gt; in [0,1]. Default "GeneratedImage".</summary>
    public string OutputColumnName { get; set; } = "GeneratedImage";
    /// <summary>Sampler, steps, guidance and batch size. Default DDIM, 50 steps, guidance 1, batches of 256.</summary>
    public SamplingOptions Sampling { get; set; } = new();
    /// <summary>Seed used when the requests have no seed column. Default 1.</summary>
    public int Seed { get; set; } = 1;

    /// <summary>Checks every option on its own (the sampling settings against the longest schedule; the model checks them again against its own).</summary>
    internal void Validate()
    {
        const string Owner = nameof(DigitGeneratorOptions);
        OptionChecks.ColumnName(LabelColumnName, nameof(LabelColumnName), Owner);
        OptionChecks.ColumnName(SeedColumnName, nameof(SeedColumnName), Owner);
        OptionChecks.ColumnName(OutputColumnName, nameof(OutputColumnName), Owner);
        OptionChecks.NotNull(Sampling, nameof(Sampling), Owner);
        Sampling.Validate(DiffusionModelConfig.MaxTimesteps);
    }
}
