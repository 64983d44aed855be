using LatentDiffusion.Diffusion;
using LatentDiffusion.Training;
using Microsoft.ML.Runtime;

namespace LatentDiffusion.MLNet.Denoising;

/// <summary>
/// Distils a trained model's guidance into its network (issue 43): fitted on the data the teacher learned (for a latent
/// model, the VAE's latents, with the labels), it trains a student of the teacher's shape, started from its weights, to
/// give in one pass what the teacher's saved guidance settings give in two or more (classifier-free guidance,
/// autoguidance), in their noise bands. The fitted transformer is the student with guidance off: the same requests,
/// the same sampler, half the network passes or fewer. A teacher of another data shape than the input column is refused.
/// </summary>
public sealed class GuidanceDistiller : Distiller<GuidanceDistillationOptions>
{
    /// <summary>Distils <paramref name="teacher"/>'s guidance; prefer <c>mlContext.Transforms.DistillGuidance(teacher)</c>.</summary>
    public GuidanceDistiller(IHostEnvironment? context, LatentDiffusionTransformer teacher, GuidanceDistillationOptions? options = null)
        : base(context, teacher, options)
    {
    }

    private protected override DiffusionLoss Loss => new(DiffusionLossKind.MeanSquaredError, Options.LossWeighting, Options.MinSnrGamma);

    private protected override (DiffusionModel Student, SamplingOptions Sampling) Distil(TrainingData samples, DiffusionTrainingSettings settings,
        TrainingRun run) => (GuidanceDistillation.Fit(Teacher.Model, Teacher.Sampling, samples, settings, run), Unguided());
}
