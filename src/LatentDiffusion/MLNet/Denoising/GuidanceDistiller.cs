using LatentDiffusion.Diffusion;
using LatentDiffusion.MLNet.Estimators;
using Microsoft.Extensions.Logging;
using Microsoft.ML;
using Microsoft.ML.Runtime;

namespace LatentDiffusion.MLNet.Denoising;

/// <summary>
/// Distils a trained model's guidance into its network (issue 43): fitted on the data the teacher learned (for a latent
/// model, the VAE's latents, with the labels), it trains a student of the teacher's shape, started from its weights, to
/// give in one pass what the teacher's saved guidance settings give in two or more (classifier-free guidance,
/// autoguidance), in their noise bands. The fitted transformer is the student with guidance off: the same requests,
/// the same sampler, half the network passes or fewer. A teacher of another data shape than the input column is refused.
/// </summary>
public sealed class GuidanceDistiller : TrainingEstimator<GuidanceDistillationOptions, LatentDiffusionTransformer>
{
    private readonly LatentDiffusionTransformer teacher;

    /// <summary>Distils <paramref name="teacher"/>'s guidance; prefer <c>mlContext.Transforms.DistillGuidance(teacher)</c>.</summary>
    public GuidanceDistiller(IHostEnvironment? context, LatentDiffusionTransformer teacher, GuidanceDistillationOptions? options = null)
        : base(context, options)
    {
        this.teacher = teacher ?? throw new ArgumentNullException(nameof(teacher));
        if (teacher.Classes == 0 && Options.LabelColumnName is not null) Options.LabelColumnName = null;
    }

    /// <inheritdoc/>
    public override LatentDiffusionTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        string column = Options.InputColumnName;
        int size = ColumnReader.RequireFloatVector(input.Schema, column, "data the teacher learned");
        var model = teacher.Model;
        if (size != model.DataSize)
            throw new ArgumentOutOfRangeException(column, $"Column '{column}' holds {size} values per row, but the teacher learned samples of "
                + $"[{string.Join(", ", model.DataShape)}] ({model.DataSize} values): distil a teacher on the data it learned.");
        if (Options.LabelColumnName is not null) ColumnReader.RequireInteger(input.Schema, Options.LabelColumnName, "class labels");
        using var log = new ComponentLogger(Context, Options.Logger, nameof(GuidanceDistiller));
        var samples = Options.ReadTrainingData(input, column, size, Options.LabelColumnName, model.Classes, "distillation", log);
        var settings = new DiffusionTrainingSettings
        {
            Epochs = Options.Epochs, LabelDropout = Options.LabelDropout, EmaDecay = Options.EmaDecay, ValidationFraction = Options.ValidationFraction,
            Loss = new DiffusionLoss(DiffusionLossKind.MeanSquaredError, Options.LossWeighting, Options.MinSnrGamma),
        };
        var guidance = teacher.Sampling;
        var (student, history) = GuidanceDistillation.Fit(model, guidance, samples, settings, Options.Run(log));
        log.LogInformation("Guidance distilled: {Passes} network passes per sample where the teacher spends {TeacherPasses}",
            student.Passes(Unguided(guidance)).Denoiser, teacher.DenoiserPassesPerSample + teacher.AutoguidancePassesPerSample);
        return new LatentDiffusionTransformer(student, new LatentDiffusionTransformer.Settings
        {
            LabelColumn = teacher.LabelColumnName, SeedColumn = teacher.SeedColumnName, OutputColumn = teacher.OutputColumnName, Seed = teacher.Seed,
            Sampling = Unguided(guidance), History = [.. history.Epochs],
        });
    }

    /// <summary>The teacher's sampling settings with every guidance method off: the student gives the guided prediction itself.</summary>
    private static SamplingOptions Unguided(SamplingOptions guidance)
    {
        var sampling = guidance.Clone();
        sampling.GuidanceScale = 1;
        sampling.AutoguidanceScale = 1;
        return sampling;
    }

    /// <inheritdoc/>
    public override SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ComponentSupport.RequireFloatVectorShape(inputSchema, Options.InputColumnName, "data the teacher learned");
        if (Options.LabelColumnName is not null) ComponentSupport.RequireIntegerShape(inputSchema, Options.LabelColumnName, "class labels");
        return ComponentSupport.Append(inputSchema, [LatentDiffusionTransformer.OutputColumn(teacher.OutputColumnName, teacher.DataShape)]);
    }
}
