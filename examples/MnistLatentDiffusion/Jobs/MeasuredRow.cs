using System.Text.Json.Nodes;
using LatentDiffusion.MLNet.Evaluation;

namespace MnistLatentDiffusion.Jobs;

/// <summary>A row measured over several image sets: each metric's mean and sample standard deviation, with the sets named.</summary>
public sealed record MeasuredRow(GeneratorMetrics[] Runs, string[] Sets)
{
    public (double Mean, double Std) Fid => Stat(Runs.Select(r => r.Fid));
    public (double Mean, double Std)? Accuracy => Runs.All(r => r.ConditionalAccuracy is not null) ? Stat(Runs.Select(r => r.ConditionalAccuracy!.Value))
        : null;
    public (double Mean, double Std) Entropy => Stat(Runs.Select(r => r.LabelEntropy));

    private static (double, double) Stat(IEnumerable<double> values)
    {
        var v = values.ToArray();
        double mean = v.Average();
        return (mean, v.Length < 2 ? 0 : Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / (v.Length - 1)));
    }

    public JsonObject ToJson()
    {
        JsonObject Of((double Mean, double Std) s, IEnumerable<double> values) =>
            new() { ["mean"] = s.Mean, ["std"] = s.Std, ["values"] = new JsonArray(values.Select(x => (JsonNode)x).ToArray()) };
        var json = new JsonObject
        {
            ["sets"] = new JsonArray(Sets.Select(s => (JsonNode)s).ToArray()),
            ["fid"] = Of(Fid, Runs.Select(r => r.Fid)),
            ["kid"] = Of(Stat(Runs.Select(r => r.KidMean)), Runs.Select(r => r.KidMean)),
            ["precision"] = Of(Stat(Runs.Select(r => r.Precision)), Runs.Select(r => r.Precision)),
            ["recall"] = Of(Stat(Runs.Select(r => r.Recall)), Runs.Select(r => r.Recall)),
            ["labelEntropy"] = Of(Entropy, Runs.Select(r => r.LabelEntropy)),
        };
        if (Accuracy is { } accuracy) json["accuracy"] = Of(accuracy, Runs.Select(r => r.ConditionalAccuracy!.Value));
        return json;
    }
}
