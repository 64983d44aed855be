using LatentDiffusion.Diffusion;
using LatentDiffusion.MLNet.Estimators;
using LatentDiffusion.Training;
using Microsoft.Extensions.Logging;
using Microsoft.ML;
using Microsoft.ML.Runtime;

namespace LatentDiffusion.MLNet.Denoising;

/// <summary>
/// What the distillers share: fitted on the data the teacher learned (for a latent model, the VAE's latents, with the
/// labels of a conditional teacher), they train a student of the teacher's shape, started from its weights, and return
/// it as a transformer that answers the same requests with its own sampling settings. A teacher of another data shape
/// than the input column is refused in one sentence.
/// </summary>
/// <typeparam name="TOptions">The distiller's options.</typeparam>
public abstract class Distiller<TOptions> : TrainingEstimator<TOptions, LatentDiffusionTransformer> where TOptions : DistillationOptions, new()
{
    private protected Distiller(IHostEnvironment? context, LatentDiffusionTransformer teacher, TOptions? options) : base(context, options)
    {
        Teacher = teacher ?? throw new ArgumentNullException(nameof(teacher));
        if (teacher.Classes == 0 && Options.LabelColumnName is not null) Options.LabelColumnName = null;
    }

    /// <summary>The teacher, as given.</summary>
    private protected LatentDiffusionTransformer Teacher { get; }

    /// <inheritdoc/>
    public override LatentDiffusionTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        string column = Options.InputColumnName;
        int size = ColumnReader.RequireFloatVector(input.Schema, column, "data the teacher learned");
        var model = Teacher.Model;
        if (size != model.DataSize)
            throw new ArgumentOutOfRangeException(column, $"Column '{column}' holds {size} values per row, but the teacher learned samples of "
                + $"[{string.Join(", ", model.DataShape)}] ({model.DataSize} values): distil a teacher on the data it learned.");
        if (Options.LabelColumnName is not null) ColumnReader.RequireInteger(input.Schema, Options.LabelColumnName, "class labels");
        CheckTeacher();
        using var log = new ComponentLogger(Context, Options.Logger, GetType().Name);
        var samples = Options.ReadTrainingData(input, column, size, Options.LabelColumnName, model.Classes, "distillation", log);
        var settings = new DiffusionTrainingSettings
        {
            Epochs = Options.Epochs, LabelDropout = Options.LabelDropout, EmaDecay = Options.EmaDecay, ValidationFraction = Options.ValidationFraction,
            Loss = Loss,
        };
        var (student, sampling) = Distil(samples, settings, Options.Run(log));
        log.LogInformation("Distilled: {Passes} network passes per sample where the teacher spends {TeacherPasses}",
            student.Passes(sampling).Denoiser, Teacher.DenoiserPassesPerSample + Teacher.AutoguidancePassesPerSample);
        return new LatentDiffusionTransformer(student, new LatentDiffusionTransformer.Settings
        {
            LabelColumn = Teacher.LabelColumnName, SeedColumn = Teacher.SeedColumnName, OutputColumn = Teacher.OutputColumnName, Seed = Teacher.Seed,
            Sampling = sampling, History = [.. student.History.Epochs],
        });
    }

    /// <summary>The loss measure of the student's training (the step distiller measures its own).</summary>
    private protected virtual DiffusionLoss Loss => new(DiffusionLossKind.MeanSquaredError);

    /// <summary>Refuses, in one sentence, a teacher this distiller cannot learn from, before any data is read.</summary>
    private protected virtual void CheckTeacher()
    {
    }

    /// <summary>Trains the student and gives the sampling settings it is meant to be sampled with.</summary>
    private protected abstract (DiffusionModel Student, SamplingOptions Sampling) Distil(TrainingData samples, DiffusionTrainingSettings settings,
        TrainingRun run);

    /// <summary>The teacher's sampling settings with every guidance method off: the student gives the guided prediction itself.</summary>
    private protected SamplingOptions Unguided()
    {
        var sampling = Teacher.Sampling.Clone();
        sampling.GuidanceScale = 1;
        sampling.AutoguidanceScale = 1;
        return sampling;
    }

    /// <inheritdoc/>
    public override SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ComponentSupport.RequireFloatVectorShape(inputSchema, Options.InputColumnName, "data the teacher learned");
        if (Options.LabelColumnName is not null) ComponentSupport.RequireIntegerShape(inputSchema, Options.LabelColumnName, "class labels");
        return ComponentSupport.Append(inputSchema, [LatentDiffusionTransformer.OutputColumn(Teacher.OutputColumnName, Teacher.DataShape)]);
    }
}
