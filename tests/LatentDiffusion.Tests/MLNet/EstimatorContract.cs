using LatentDiffusion.MLNet.Persistence;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace LatentDiffusion.Tests.MLNet;

/// <summary>
/// The contract every estimator of this library keeps, after ML.NET's own <c>TestEstimatorCore</c>: bad input fails
/// the same way in <c>GetOutputSchema</c> and in <c>Fit</c> (and in the fitted transformer); the estimator's announced
/// schema, the transformer's schema, the transformed view's schema and the row mapper's schema agree; and the
/// transformer saved and loaded in a fresh context gives identical outputs.
/// </summary>
internal static class EstimatorContract
{
    public static void Check<T>(IEstimator<T> estimator, IDataView validInput, IDataView invalidInput, string folder) where T : class, ITransformer
    {
        // Bad input: the same exception, naming the same column, before any training and after it.
        var announced = Assert.Throws<ArgumentOutOfRangeException>(() => estimator.GetOutputSchema(MLNetInternals.ShapeOf(invalidInput.Schema)));
        var fitted = Assert.Throws<ArgumentOutOfRangeException>(() => estimator.Fit(invalidInput));
        Assert.Equal(announced.ParamName, fitted.ParamName);
        Assert.Contains($"'{announced.ParamName}'", announced.Message);
        Assert.Contains($"'{fitted.ParamName}'", fitted.Message);

        var shape = estimator.GetOutputSchema(MLNetInternals.ShapeOf(validInput.Schema));
        var transformer = estimator.Fit(validInput);
        var applied = Assert.Throws<ArgumentOutOfRangeException>(() => transformer.GetOutputSchema(invalidInput.Schema));
        Assert.Equal(announced.ParamName, applied.ParamName);

        // Three schemas of the output agree with each other and with what the estimator announced.
        var schema = transformer.GetOutputSchema(validInput.Schema);
        var view = transformer.Transform(validInput);
        Assert.True(transformer.IsRowToRowMapper);
        var mapper = transformer.GetRowToRowMapper(validInput.Schema);
        AssertSameSchema(schema, view.Schema);
        AssertSameSchema(schema, mapper.OutputSchema);
        foreach (var column in shape)
        {
            var actual = schema.GetColumnOrNull(column.Name);
            Assert.True(actual is not null, $"announced column '{column.Name}' is missing from the output");
            var actualShape = MLNetInternals.ShapeOf(schema).Single(c => c.Name == column.Name);
            Assert.True(column.Kind == actualShape.Kind && column.ItemType.Equals(actualShape.ItemType) && column.IsKey == actualShape.IsKey,
                $"column '{column.Name}': announced {column.Kind} of {column.ItemType}, got {actual!.Value.Type}");
            Assert.Subset(actualShape.Annotations.Select(a => a.Name).ToHashSet(), column.Annotations.Select(a => a.Name).ToHashSet());
        }
        Assert.Equal(shape.Select(c => c.Name).Order(), schema.Where(c => !c.IsHidden).Select(c => c.Name).Distinct().Order());

        // Saved and loaded in a fresh context, the transformer gives identical outputs.
        string path = Path.Combine(folder, $"contract-{typeof(T).Name}.zip");
        var ml = new MLContext(1);
        ml.Model.Save(transformer, validInput.Schema, path);
        var fresh = new MLContext(2);
        fresh.ComponentCatalog.RegisterLatentDiffusion();
        var loaded = fresh.Model.Load(path, out var loadedInputSchema);
        AssertSameSchema(validInput.Schema, loadedInputSchema);
        var loadedView = loaded.Transform(validInput);
        AssertSameSchema(view.Schema, loadedView.Schema);
        for (int i = validInput.Schema.Count; i < view.Schema.Count; i++)
            AssertSameColumnValues(view, loadedView, view.Schema[i]);
    }

    private static void AssertSameSchema(DataViewSchema expected, DataViewSchema actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].Name, actual[i].Name);
            Assert.Equal(expected[i].Type, actual[i].Type);
            Assert.Equal(expected[i].Annotations.Schema.Select(a => a.Name), actual[i].Annotations.Schema.Select(a => a.Name));
        }
    }

    private static void AssertSameColumnValues(IDataView expected, IDataView actual, DataViewSchema.Column column)
    {
        if (column.Type is VectorDataViewType)
            Assert.Equal(expected.GetColumn<float[]>(column.Name).ToArray(), actual.GetColumn<float[]>(column.Name).ToArray());
        else
            Assert.Equal(expected.GetColumn<int>(column.Name).ToArray(), actual.GetColumn<int>(column.Name).ToArray());
    }
}
