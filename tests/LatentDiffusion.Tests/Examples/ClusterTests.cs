using System.Text.Json.Nodes;
using LatentDiffusion.MLNet.Evaluation;
using LatentDiffusion.Tests.MLNet;
using Microsoft.ML;

namespace LatentDiffusion.Tests.Examples;

/// <summary>
/// The Kubernetes Indexed Job recipe of the README run locally (issue 28): the container's entry point, the app, runs
/// once per shard with JOB_COMPLETION_INDEX set as Kubernetes sets it, then once to merge; the merged table equals a
/// single process's.
/// </summary>
[Trait("Data", "MNIST")]
public class ClusterTests(TinyModels models) : IClassFixture<TinyModels>, IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("ld-cluster-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private static CommandLineTests.Run App(string work, string[] args, string? index = null)
    {
        var run = CommandLineTests.App(work, args, environment: index is null ? null : new() { ["JOB_COMPLETION_INDEX"] = index });
        Assert.True(run.ExitCode == 0, $"'{string.Join(' ', args)}' failed:\n{run.Out}\n{run.Error}");
        return run;
    }

    [Fact]
    public void Three_pods_and_a_merge_give_the_single_process_table_and_a_damaged_shard_is_refused_in_one_line()
    {
        models.Context.Model.Save(models.Generator, models.Requests(1).Schema, Path.Combine(folder, "model.zip"));
        var classifier = models.Context.Transforms.FidEvaluator(new FidEvaluatorOptions { Epochs = 1, BatchSize = 64, Augmentation = false })
            .Fit(models.Context.Data.TakeRows(models.Train, 600));
        models.Context.Model.Save(classifier, models.Train.Schema, Path.Combine(folder, "classifier.zip"));
        // 100 requests in batches of 16: 7 batches, the last one short; three pods take 2, 2 and 3 of them.
        string[] common = ["evaluate", "--classifier", "classifier.zip", "--model", "model.zip", "--count", "100", "--steps", "4", "--seed", "5"];

        App(folder, [.. common, "--reference-count", "300", "--json", "single.json"]);
        App(folder, ["evaluate", "--classifier", "classifier.zip", "--reference-count", "300", "--reference-stats-out", "stats/reference.stats"]);
        for (int pod = 0; pod < 3; pod++)
            App(folder, [.. common, "--shard-count", "3", "--stats-out", "stats/shard-{index}.stats"], index: pod.ToString());
        var shards = Enumerable.Range(0, 3).Select(i => $"stats/shard-{i}.stats").ToArray();
        App(folder, ["evaluate", "--merge", .. shards, "--reference", "stats/reference.stats", "--json", "merged.json"]);

        var single = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "single.json")))!;
        var merged = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "merged.json")))!;
        double fid = single["fid"]!.GetValue<double>();
        Assert.Equal(fid, merged["fid"]!.GetValue<double>(), fid * 1e-9);
        // networkPassesPerImage: issue 42 (the merge had none); the shards' statistics files carry it.
        Assert.True(merged["networkPassesPerImage"]?.GetValue<int>() >= 4, merged.ToJsonString());
        foreach (var key in new[] { "evaluatedImages", "referenceImages", "accuracy", "labelEntropy", "kidMean", "kidStd", "precision", "recall",
            "networkPassesPerImage" })
            Assert.Equal(single[key]!.ToJsonString(), merged[key]!.ToJsonString());
        Assert.Equal(100, merged["evaluatedImages"]!.GetValue<int>());

        // Issue 42: a reference from another classifier is refused before any image is generated (100,000 would take
        // far longer than the test's timeout), in one line naming both.
        LatentDiffusion.Metrics.FidStatistics.Empty("another-instrument", classifier.FeatureSize, classifier.Classes).Save(Path.Combine(folder, "other.stats"));
        var foreign = CommandLineTests.App(folder, [.. common[..^6], "--count", "100000", "--reference", "other.stats"], timeout: TimeSpan.FromMinutes(1));
        Assert.Equal(2, foreign.ExitCode);
        Assert.Contains("--reference 'other.stats' was written by another classifier (another-instrument)",
            Assert.Single(foreign.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries)));

        // A damaged shard: one line, the file named, a non-zero exit code.
        string damaged = Path.Combine(folder, shards[1]);
        var bytes = File.ReadAllBytes(damaged);
        bytes[bytes.Length / 3] ^= 0x10;
        File.WriteAllBytes(damaged, bytes);
        var run = CommandLineTests.App(folder, ["evaluate", "--merge", .. shards, "--reference", "stats/reference.stats", "--json", "again.json"]);
        Assert.NotEqual(0, run.ExitCode);
        var line = Assert.Single(run.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("shard-1.stats", line);
        Assert.Contains("checksum", line);
        Assert.False(File.Exists(Path.Combine(folder, "again.json")));
    }

    [Fact]
    public void Generate_shards_cover_every_request_once_with_the_single_run_s_images()
    {
        models.Context.Model.Save(models.Generator, models.Requests(1).Schema, Path.Combine(folder, "model.zip"));
        string[] common = ["generate", "--model", "model.zip", "--count", "70", "--steps", "4"];
        App(folder, [.. common, "--raw", "all.raw", "--png", "all.png"]);
        var parts = new List<byte>();
        // Five shards of 70 requests in batches of 16 (5 batches): one batch each, the last one short.
        for (int shard = 0; shard < 5; shard++)
        {
            App(folder, [.. common, "--shard", $"{shard}/5", "--raw", "part-{index}.raw", "--png", "part-{index}.png"]);
            parts.AddRange(File.ReadAllBytes(Path.Combine(folder, $"part-{shard}.raw")));
        }
        Assert.Equal(File.ReadAllBytes(Path.Combine(folder, "all.raw")), parts.ToArray());
    }
}
