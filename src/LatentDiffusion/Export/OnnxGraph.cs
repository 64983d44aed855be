using Google.Protobuf;
using LatentDiffusion.Export.Onnx;
using static TorchSharp.torch;

namespace LatentDiffusion.Export;

/// <summary>
/// Builds one ONNX graph (opset <see cref="Opset"/>, IR version <see cref="IrVersion"/>) node by node: weights become
/// initialisers, each node's output gets a fresh name, and <see cref="ToBytes"/> serialises the model through
/// Google.Protobuf (the message types are generated from <c>onnx.proto</c>, the format's own field numbers).
/// </summary>
internal sealed class OnnxGraph(string name)
{
    /// <summary>The operator set written (Gelu needs 20).</summary>
    public const int Opset = 21;
    /// <summary>The IR version that goes with opset 21.</summary>
    public const int IrVersion = 10;

    private readonly GraphProto graph = new() { Name = name };
    private readonly HashSet<string> names = [];
    private int counter;

    /// <summary>A symbolic dimension (the batch).</summary>
    public sealed record Symbol(string Name);

    private string Fresh(string hint)
    {
        string candidate = hint;
        while (!names.Add(candidate)) candidate = $"{hint}_{++counter}";
        return candidate;
    }

    /// <summary>A float32 initialiser from <paramref name="value"/> (copied to the CPU as float32).</summary>
    public string Weight(string hint, Tensor value)
    {
        using var cpu = value.detach().to_type(ScalarType.Float32).cpu().contiguous();
        return Floats(hint, cpu.data<float>().ToArray(), cpu.shape);
    }

    public string Floats(string hint, float[] values, long[] dims)
    {
        var bytes = new byte[values.Length * 4];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
        return Add(hint, TensorProto.Types.DataType.Float, bytes, dims);
    }

    public string Longs(string hint, long[] values, long[]? dims = null)
    {
        var bytes = new byte[values.Length * 8];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
        return Add(hint, TensorProto.Types.DataType.Int64, bytes, dims ?? [values.Length]);
    }

    private string Add(string hint, TensorProto.Types.DataType type, byte[] bytes, long[] dims)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("ONNX raw data is little-endian; this machine is not.");
        var tensor = new TensorProto { Name = Fresh(hint), DataType = (int)type, RawData = ByteString.CopyFrom(bytes) };
        tensor.Dims.AddRange(dims);
        graph.Initializer.Add(tensor);
        return tensor.Name;
    }

    private static ValueInfoProto Value(string name, TensorProto.Types.DataType type, object[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
            shape.Dim.Add(d switch
            {
                Symbol s => new TensorShapeProto.Types.Dimension { DimParam = s.Name },
                _ => new TensorShapeProto.Types.Dimension { DimValue = Convert.ToInt64(d, System.Globalization.CultureInfo.InvariantCulture) },
            });
        var tensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape };
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = tensorType } };
    }

    /// <summary>
    /// Declares a graph input of float32 (or int64 with <paramref name="integer"/>) and the given dimensions (numbers or
    /// <see cref="Symbol"/>s).
    /// </summary>
    public string Input(string inputName, bool integer, params object[] dims)
    {
        names.Add(inputName);
        graph.Input.Add(Value(inputName, integer ? TensorProto.Types.DataType.Int64 : TensorProto.Types.DataType.Float, dims));
        return inputName;
    }

    /// <summary>Names <paramref name="value"/> as a float32 graph output called <paramref name="outputName"/>.</summary>
    public void Output(string value, string outputName, params object[] dims)
    {
        if (value != outputName) Node("Identity", [value], outputName);
        graph.Output.Add(Value(outputName, TensorProto.Types.DataType.Float, dims));
    }

    /// <summary>Adds a node of one output; attributes are ints (long), floats (float), strings, or arrays of ints or floats.</summary>
    public string Node(string op, string[] inputs, string? output = null, params (string Name, object Value)[] attributes)
    {
        output = output is null ? Fresh(op.ToLowerInvariant()) : Named(output);
        var node = new NodeProto { OpType = op, Name = output };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        foreach (var (attribute, value) in attributes) node.Attribute.Add(Attribute(attribute, value));
        graph.Node.Add(node);
        return output;
    }

    private string Named(string output)
    {
        if (!names.Add(output)) throw new InvalidOperationException($"The graph already has a value named '{output}'.");
        return output;
    }

    /// <summary>Shorthand for <see cref="Node"/> with attributes and a generated output name.</summary>
    public string Op(string op, string[] inputs, params (string Name, object Value)[] attributes) => Node(op, inputs, null, attributes);

    private static AttributeProto Attribute(string attributeName, object value)
    {
        var a = new AttributeProto { Name = attributeName };
        switch (value)
        {
            case long i: (a.Type, a.I) = (AttributeProto.Types.AttributeType.Int, i); break;
            case int i: (a.Type, a.I) = (AttributeProto.Types.AttributeType.Int, i); break;
            case float f: (a.Type, a.F) = (AttributeProto.Types.AttributeType.Float, f); break;
            case string s: (a.Type, a.S) = (AttributeProto.Types.AttributeType.String, ByteString.CopyFromUtf8(s)); break;
            case long[] ints: a.Type = AttributeProto.Types.AttributeType.Ints; a.Ints.AddRange(ints); break;
            case float[] floats: a.Type = AttributeProto.Types.AttributeType.Floats; a.Floats.AddRange(floats); break;
            default: throw new ArgumentException($"Attribute '{attributeName}' has an unsupported type {value.GetType().Name}.", nameof(value));
        }
        return a;
    }

    /// <summary>The model file's bytes, which the export writes atomically.</summary>
    public byte[] ToBytes(string docString)
    {
        var model = new ModelProto
        {
            IrVersion = IrVersion, ProducerName = "LatentDiffusion", ProducerVersion = typeof(OnnxGraph).Assembly.GetName().Version?.ToString() ?? "",
            DocString = docString, Graph = graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
        return model.ToByteArray();
    }

}
