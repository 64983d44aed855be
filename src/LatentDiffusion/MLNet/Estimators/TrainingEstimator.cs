using Microsoft.ML;
using Microsoft.ML.Runtime;

namespace LatentDiffusion.MLNet.Estimators;

/// <summary>
/// What our three learning estimators share: options checked when the estimator is built (each options class checks
/// itself), and the context whose log they write to. Only this library derives from it.
/// </summary>
/// <typeparam name="TOptions">The options class.</typeparam>
/// <typeparam name="TTransformer">The fitted transformer.</typeparam>
public abstract class TrainingEstimator<TOptions, TTransformer> : IEstimator<TTransformer>
    where TOptions : TrainingOptions, new()
    where TTransformer : class, ITransformer
{
    private protected TrainingEstimator(IHostEnvironment? context, TOptions? options)
    {
        Context = context;
        Options = options ?? new TOptions();
        Options.Validate();
    }

    /// <summary>The context whose log receives training progress besides <see cref="TrainingOptions.Logger"/>; may be null.</summary>
    private protected IHostEnvironment? Context { get; }

    /// <summary>The options, checked.</summary>
    private protected TOptions Options { get; }

    /// <inheritdoc/>
    public abstract TTransformer Fit(IDataView input);

    /// <inheritdoc/>
    public abstract SchemaShape GetOutputSchema(SchemaShape inputSchema);
}
