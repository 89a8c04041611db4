using System.Globalization;
using Google.Protobuf;
using Pretrain.Onnx.Proto;

namespace Pretrain.Onnx.Graph;

/// <summary>
/// Writes a built graph as <c>model.onnx</c>. When the initializers add up to more than the threshold, every
/// initializer of at least <see cref="MinExternalBytes"/> goes to <c>model.onnx_data</c> beside it
/// (<c>data_location = EXTERNAL</c>, entries <c>location</c>/<c>offset</c>/<c>length</c>, offsets aligned to
/// <see cref="Alignment"/> bytes), because a protobuf message cannot exceed 2 GB.
/// </summary>
internal static class OnnxModelWriter
{
    /// <summary>ONNX IR version 8 (ONNX 1.12, opsets up to 17): what Debian's python3-onnx checker accepts.</summary>
    public const long IrVersion = 8;

    /// <summary>Name of the external data file, relative to model.onnx.</summary>
    public const string DataFileName = "model.onnx_data";

    /// <summary>Smaller tensors stay inline even in an external-data model (as onnx's own converter does).</summary>
    public const int MinExternalBytes = 1024;

    /// <summary>Offsets in the data file are multiples of this (lets runtimes map tensors directly).</summary>
    public const int Alignment = 4096;

    /// <summary>Largest threshold accepted: what fits in one protobuf message with room for the graph itself.</summary>
    public const long MaxInlineBytes = int.MaxValue - (64L << 20);

    /// <summary>Writes model.onnx (and maybe model.onnx_data) into <paramref name="directory"/>; returns whether data went external.</summary>
    public static bool Write(OnnxGraphBuilder builder, string directory, long externalThreshold, IReadOnlyDictionary<string, string> metadata)
    {
        var total = builder.Initializers.Sum(i => (long)i.Data.Length);
        var external = total > externalThreshold;
        var graph = builder.Graph.Clone();
        if (external)
        {
            using var data = new FileStream(Path.Combine(directory, DataFileName), FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
            foreach (var init in builder.Initializers)
            {
                if (init.Data.Length < MinExternalBytes)
                {
                    graph.Initializer.Add(Inline(init));
                    continue;
                }
                var padding = (Alignment - data.Position % Alignment) % Alignment;
                data.Write(new byte[padding]);
                var offset = data.Position;
                data.Write(init.Data);
                var tensor = Header(init);
                tensor.DataLocation = TensorProto.Types.DataLocation.External;
                tensor.ExternalData.Add(Entry("location", DataFileName));
                tensor.ExternalData.Add(Entry("offset", offset.ToString(CultureInfo.InvariantCulture)));
                tensor.ExternalData.Add(Entry("length", init.Data.Length.ToString(CultureInfo.InvariantCulture)));
                graph.Initializer.Add(tensor);
            }
            data.Flush(flushToDisk: true);
        }
        else
        {
            graph.Initializer.AddRange(builder.Initializers.Select(Inline));
        }

        var model = new ModelProto
        {
            IrVersion = IrVersion,
            ProducerName = "pretrain",
            ProducerVersion = typeof(OnnxModelWriter).Assembly.GetName().Version?.ToString() ?? "0",
            Graph = graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = builder.Opset });
        if (graph.Node.Any(n => n.Domain == OnnxGraphBuilder.MicrosoftDomain))
            model.OpsetImport.Add(new OperatorSetIdProto { Domain = OnnxGraphBuilder.MicrosoftDomain, Version = 1 });
        foreach (var (key, value) in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            model.MetadataProps.Add(Entry(key, value));
        using var file = new FileStream(Path.Combine(directory, "model.onnx"), FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        model.WriteTo(file);
        file.Flush(flushToDisk: true);
        return external;
    }

    private static TensorProto Inline(OnnxInitializer init)
    {
        var tensor = Header(init);
        tensor.RawData = ByteString.CopyFrom(init.Data);
        return tensor;
    }

    private static TensorProto Header(OnnxInitializer init)
    {
        var tensor = new TensorProto { Name = init.Name, DataType = (int)init.Type };
        tensor.Dims.AddRange(init.Dims);
        return tensor;
    }

    private static StringStringEntryProto Entry(string key, string value) => new() { Key = key, Value = value };
}
