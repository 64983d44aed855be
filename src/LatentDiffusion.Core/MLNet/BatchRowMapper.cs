using Microsoft.ML;
using Microsoft.ML.Data;

namespace LatentDiffusion.MLNet;

/// <summary>The single-row form of a <see cref="BatchMapper"/>, which <see cref="PredictionEngine{TSrc, TDst}"/> uses.</summary>
public sealed class BatchRowMapper : IRowToRowMapper
{
    private readonly BatchMapper mapper;
    private readonly int inputCount;

    /// <summary>The row mapper of <paramref name="mapper"/> over rows of <paramref name="inputSchema"/>.</summary>
    public BatchRowMapper(DataViewSchema inputSchema, BatchMapper mapper)
    {
        this.mapper = mapper;
        InputSchema = inputSchema;
        inputCount = inputSchema.Count;
        OutputSchema = mapper.OutputSchema(inputSchema);
    }

    /// <inheritdoc/>
    public DataViewSchema InputSchema { get; }
    /// <inheritdoc/>
    public DataViewSchema OutputSchema { get; }

    /// <inheritdoc/>
    public IEnumerable<DataViewSchema.Column> GetDependencies(IEnumerable<DataViewSchema.Column> dependingColumns)
    {
        var needed = dependingColumns.ToList();
        var result = needed.Where(c => c.Index < inputCount).Select(c => InputSchema[c.Index]).ToList();
        if (needed.Any(c => c.Index >= inputCount)) result.AddRange(mapper.Dependencies(InputSchema));
        return result.DistinctBy(c => c.Index);
    }

    /// <inheritdoc/>
    public DataViewRow GetRow(DataViewRow input, IEnumerable<DataViewSchema.Column> activeColumns) =>
        new Row(this, input, activeColumns.Select(c => c.Index).ToHashSet());

    private sealed class Row : DataViewRow
    {
        private readonly BatchRowMapper parent;
        private readonly DataViewRow input;
        private readonly HashSet<int> active;
        private readonly BatchReader reader;
        private readonly BatchBuffers buffers;

        public Row(BatchRowMapper parent, DataViewRow input, HashSet<int> active)
        {
            this.parent = parent;
            this.input = input;
            this.active = active;
            reader = parent.mapper.CreateReader(input, 1);
            buffers = new BatchBuffers(parent.mapper.Outputs, 1);
        }

        public override DataViewSchema Schema => parent.OutputSchema;
        public override long Position => input.Position;
        public override long Batch => input.Batch;
        public override ValueGetter<DataViewRowId> GetIdGetter() => input.GetIdGetter();
        public override bool IsColumnActive(DataViewSchema.Column column) => active.Contains(column.Index);

        private long computedAt = long.MinValue;

        // Computed once per input position, for all outputs: ML.NET's rows move Position whenever their values change
        // (a prediction engine's input row counts up on every Predict), as its own row mappers assume.
        private int Current()
        {
            if (computedAt != input.Position)
            {
                reader.ReadRow(0, input.Position);
                reader.Compute(1, buffers.Vectors, buffers.Scalars);
                computedAt = input.Position;
            }
            return 0;
        }

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            if (column.Index < parent.inputCount) return input.GetGetter<TValue>(parent.InputSchema[column.Index]);
            int o = column.Index - parent.inputCount;
            var output = parent.mapper.Outputs[o];
            return BatchBuffers.Cast<TValue>(buffers.Getter(output, o, Current), output);
        }
    }
}
