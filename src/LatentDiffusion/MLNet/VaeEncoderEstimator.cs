using Microsoft.Extensions.Logging;
using LatentDiffusion.Models;
using LatentDiffusion.Training;
using Microsoft.ML;

namespace LatentDiffusion.MLNet;

/// <summary>
/// Trains a convolutional VAE (spatial latent, KL-regularised) on an image column. The fitted
/// <see cref="VaeEncoderTransformer"/> maps images to standardised latents, records the latent shape in the column's
/// <see cref="ShapeAnnotation"/>, and owns the decoder a <see cref="DigitGenerator"/> decodes with.
/// </summary>
public sealed class VaeEncoderEstimator : IEstimator<VaeEncoderTransformer>
{
    private const string Owner = nameof(VaeEncoderOptions);
    private readonly MLContext? context;
    private readonly VaeEncoderOptions options;

    /// <summary>Creates the estimator; prefer <c>mlContext.Transforms.EncodeToLatent(...)</c>.</summary>
    public VaeEncoderEstimator(MLContext? context, VaeEncoderOptions? options = null)
    {
        this.context = context;
        this.options = options ?? new VaeEncoderOptions();
        this.options.Validate();
    }

    /// <inheritdoc/>
    public VaeEncoderTransformer Fit(IDataView input)
    {
        int size = ColumnReader.RequireFloatVector(input.Schema, options.ImageColumnName, "images to encode");
        var shape = ColumnReader.ImageShape(input.Schema[options.ImageColumnName], size, options.ImageShape, $"{Owner}.{nameof(options.ImageShape)}");
        string? labelColumn = options.PerceptualWeight > 0 ? options.PerceptualLabelColumnName : null;
        if (labelColumn is not null) ColumnReader.RequireInteger(input.Schema, labelColumn, $"labels for {Owner}.PerceptualLabelColumnName");
        var (images, labels, rows) = ColumnReader.ReadAll(input, options.ImageColumnName, size, labelColumn, options.PerceptualClasses, options.CancellationToken);
        if (options.Reconstruction == ReconstructionLoss.BinaryCrossEntropy && images.Any(v => v is < 0 or > 1))
            throw new ArgumentOutOfRangeException(options.ImageColumnName, $"Column '{options.ImageColumnName}': binary cross-entropy needs pixels in [0,1], but values outside were found (min {images.Min()}, max {images.Max()}). Scale the pixels (ExtractPixels with scaleImage: 1/255f) or use MeanSquaredError.");

        var config = options.ToVaeConfig(shape);
        VaeModel.Validate(config, $"the VAE for column '{options.ImageColumnName}'");
        MemoryCheck.Training(VaeModel.ParameterCount(config), nameof(options.Width), options.Width, Owner);
        using var log = new ComponentLogger(context, options.Logger, nameof(VaeEncoderEstimator));
        if (ColumnReader.PlanesLookIdentical(images, rows, shape))
            log.LogWarning("Column '{Column}' holds three identical colour planes in its first rows: grey images extracted as red, green and blue "
                + "(ExtractPixels' default, even after ConvertToGrayscale). Training a 3-channel VAE; extract one plane "
                + "(colorsToExtract: ImagePixelExtractingEstimator.ColorBits.Red) for a 1-channel model.", options.ImageColumnName);
        var settings = new VaeTrainingSettings
        {
            Epochs = options.Epochs, BinaryCrossEntropy = options.Reconstruction == ReconstructionLoss.BinaryCrossEntropy, KlWeight = options.KlWeight,
            ValidationFraction = options.ValidationFraction, PerceptualWeight = options.PerceptualWeight, PerceptualClasses = options.PerceptualClasses,
            CommitmentWeight = options.CommitmentWeight, AdversarialWeight = options.AdversarialWeight, AdversarialStart = options.AdversarialStart,
        };
        var (model, history) = VaeTraining.Fit(config, new TrainingData(images, labels, rows), settings, options.Run(log));
        return new VaeEncoderTransformer(model, new VaeEncoderTransformer.Settings
        {
            ImageColumn = options.ImageColumnName, LatentColumn = options.LatentColumnName, Output = options.Output, Seed = options.Seed,
            Vae = model.Config, History = [.. history.Epochs],
        });
    }

    /// <inheritdoc/>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ComponentSupport.RequireFloatVectorShape(inputSchema, options.ImageColumnName, "images to encode");
        if (options.PerceptualWeight > 0)
            ComponentSupport.RequireIntegerShape(inputSchema, options.PerceptualLabelColumnName!, $"labels for {Owner}.PerceptualLabelColumnName");
        // The latent's size is known once the images are: announced as a vector with its shape and normalised marks.
        return ComponentSupport.Append(inputSchema, [VaeEncoderTransformer.LatentColumn(options.LatentColumnName, [options.LatentChannels, 1, 1])]);
    }
}
