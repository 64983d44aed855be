using Microsoft.ML;
using Microsoft.ML.Data;

namespace LatentDiffusion.MLNet;

/// <summary>Allocated output buffers of one batch.</summary>
public sealed class BatchBuffers
{
    public BatchBuffers(IReadOnlyList<OutputColumn> outputs, int capacity)
    {
        Vectors = outputs.Select(o => o.Size > 0 ? new float[o.Size * capacity] : []).ToArray();
        Scalars = outputs.Select(o => o.Size == 0 ? new int[capacity] : []).ToArray();
    }

    public float[][] Vectors { get; }
    public int[][] Scalars { get; }

    public Delegate Getter(OutputColumn output, int outputIndex, Func<int> slot)
    {
        if (output.Size == 0)
        {
            var scalars = Scalars[outputIndex];
            return (ValueGetter<int>)((ref int value) => value = scalars[slot()]);
        }
        var vectors = Vectors[outputIndex];
        int size = output.Size;
        return (ValueGetter<VBuffer<float>>)((ref VBuffer<float> value) =>
        {
            var editor = VBufferEditor.Create(ref value, size);
            vectors.AsSpan(slot() * size, size).CopyTo(editor.Values);
            value = editor.Commit();
        });
    }

    public static ValueGetter<T> Cast<T>(Delegate getter, OutputColumn output)
    {
        if (getter is ValueGetter<T> typed) return typed;
        throw new InvalidOperationException($"Column '{output.Name}' is {output.Type}; a getter of {typeof(T).Name} was asked for.");
    }
}
