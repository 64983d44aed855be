using Microsoft.ML;
using Microsoft.ML.Data;

namespace LatentDiffusion.MLNet;

/// <summary>Allocated output buffers of one batch.</summary>
public sealed class BatchBuffers
{
    /// <summary>Buffers for <paramref name="capacity"/> rows of each of <paramref name="outputs"/>.</summary>
    public BatchBuffers(IReadOnlyList<OutputColumn> outputs, int capacity)
    {
        Vectors = outputs.Select(o => o.Size > 0 ? new float[o.Size * capacity] : []).ToArray();
        Scalars = outputs.Select(o => o.Size == 0 ? new int[capacity] : []).ToArray();
    }

    /// <summary>Per output, the vector values of every slot (empty for a scalar output).</summary>
    public float[][] Vectors { get; }
    /// <summary>Per output, the Int32 value of every slot (empty for a vector output).</summary>
    public int[][] Scalars { get; }

    /// <summary>A getter of <paramref name="output"/> that reads the slot <paramref name="slot"/> returns when called.</summary>
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

    /// <summary>The getter typed as asked; a wrong type is refused naming the column and its type.</summary>
    public static ValueGetter<T> Cast<T>(Delegate getter, OutputColumn output)
    {
        if (getter is ValueGetter<T> typed) return typed;
        throw new InvalidOperationException($"Column '{output.Name}' is {output.Type}; a getter of {typeof(T).Name} was asked for.");
    }
}
