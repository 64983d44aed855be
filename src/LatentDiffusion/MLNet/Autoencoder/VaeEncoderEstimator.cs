using LatentDiffusion.MLNet.Estimators;
using LatentDiffusion.MLNet.Generation;
using LatentDiffusion.Models.Vae;
using Microsoft.Extensions.Logging;
using Microsoft.ML;
using Microsoft.ML.Runtime;

namespace LatentDiffusion.MLNet.Autoencoder;

/// <summary>
/// Trains a convolutional VAE (spatial latent, KL-regularised) on an image column. The fitted
/// <see cref="VaeEncoderTransformer"/> maps images to standardised latents, records the latent shape in the column's
/// <see cref="ShapeAnnotation"/>, and owns the decoder a <see cref="DigitGenerator"/> decodes with.
/// </summary>
public sealed class VaeEncoderEstimator : TrainingEstimator<VaeEncoderOptions, VaeEncoderTransformer>
{
    private const string Owner = nameof(VaeEncoderOptions);

    /// <summary>Creates the estimator; prefer <c>mlContext.Transforms.EncodeToLatent(...)</c>.</summary>
    public VaeEncoderEstimator(IHostEnvironment? context, VaeEncoderOptions? options = null)
        : base(context, options)
    {
    }

    /// <inheritdoc/>
    public override VaeEncoderTransformer Fit(IDataView input)
    {
        int size = ColumnReader.RequireFloatVector(input.Schema, Options.ImageColumnName, "images to encode");
        var shape = ColumnReader.ImageShape(input.Schema[Options.ImageColumnName], size, Options.ImageShape, $"{Owner}.{nameof(Options.ImageShape)}");
        string? labelColumn = Options.PerceptualWeight > 0 ? Options.PerceptualLabelColumnName : null;
        if (labelColumn is not null) ColumnReader.RequireInteger(input.Schema, labelColumn, $"labels for {Owner}.PerceptualLabelColumnName");
        using var log = new ComponentLogger(Context, Options.Logger, nameof(VaeEncoderEstimator));
        var images = Options.ReadTrainingData(input, Options.ImageColumnName, size, labelColumn, Options.PerceptualClasses, "vae", log);
        var (low, high) = images.Range();
        if (Options.Reconstruction == ReconstructionLoss.BinaryCrossEntropy && (low < 0 || high > 1))
            throw new ArgumentOutOfRangeException(Options.ImageColumnName,
                $"Column '{Options.ImageColumnName}': binary cross-entropy needs pixels in [0,1], but values outside were found (min {low}, "
                + $"max {high}). Scale the pixels (ExtractPixels with scaleImage: 1/255f) or use MeanSquaredError.");

        var config = Options.ToVaeConfig(shape);
        VaeModel.Validate(config, $"the VAE for column '{Options.ImageColumnName}'");
        MemoryCheck.Training(VaeModel.ParameterCount(config), nameof(Options.Width), Options.Width, Owner);
        var first = images.Chunks(0, Math.Min(images.Rows, 64), 64).First();
        if (ColumnReader.PlanesLookIdentical(first.Values, first.Rows, shape))
            log.LogWarning("Column '{Column}' holds three identical colour planes in its first rows: grey images extracted as red, green and blue "
                + "(ExtractPixels' default, even after ConvertToGrayscale). Training a 3-channel VAE; extract one plane "
                + "(colorsToExtract: ImagePixelExtractingEstimator.ColorBits.Red) for a 1-channel model.", Options.ImageColumnName);
        var (model, history) = VaeTraining.Fit(config, images, Options.ToTrainingSettings(), Options.Run(log));
        return new VaeEncoderTransformer(model, new VaeEncoderTransformer.Settings
        {
            ImageColumn = Options.ImageColumnName, LatentColumn = Options.LatentColumnName, Output = Options.Output, Seed = Options.Seed,
            Vae = model.Config, History = [.. history.Epochs],
        });
    }

    /// <inheritdoc/>
    public override SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ComponentSupport.RequireFloatVectorShape(inputSchema, Options.ImageColumnName, "images to encode");
        if (Options.PerceptualWeight > 0)
            ComponentSupport.RequireIntegerShape(inputSchema, Options.PerceptualLabelColumnName!, $"labels for {Owner}.PerceptualLabelColumnName");
        // The latent's size is known once the images are: announced as a vector with its shape and normalised marks.
        return ComponentSupport.Append(inputSchema, [VaeEncoderTransformer.LatentColumn(Options.LatentColumnName, [Options.LatentChannels, 1, 1])]);
    }
}
