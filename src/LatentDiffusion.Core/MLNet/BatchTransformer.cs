using Microsoft.ML;
using Microsoft.ML.Data;

namespace LatentDiffusion.MLNet;

/// <summary>
/// What the transformers of both engines share: each appends columns computed a batch of rows at a time by a mapper,
/// lazily (<see cref="Transform"/>) or row by row (a prediction engine), and saves itself into a model file.
/// </summary>
public abstract class BatchTransformer : ITransformer
{
    /// <summary>The mapper for the current settings: output columns, batch size and the computation.</summary>
    protected abstract BatchMapper CreateMapper();

    /// <inheritdoc/>
    public bool IsRowToRowMapper => true;

    /// <inheritdoc/>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => CreateMapper().OutputSchema(inputSchema);

    /// <inheritdoc/>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => new BatchRowMapper(inputSchema, CreateMapper());

    /// <inheritdoc/>
    public IDataView Transform(IDataView input) => new BatchMappedDataView(input, CreateMapper());

    void ICanSaveModel.Save(ModelSaveContext ctx) => Save(ctx);

    /// <summary>Writes the component's entry in a model file (see <see cref="Persistence.ComponentCodec"/>).</summary>
    protected abstract void Save(ModelSaveContext ctx);
}
