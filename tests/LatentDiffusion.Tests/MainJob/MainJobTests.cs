using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using MnistLatentDiffusion;

namespace LatentDiffusion.Tests.MainJob;

public class MainJobTests
{
    [Fact]
    public async Task The_smallest_preset_runs_end_to_end_and_writes_every_file()
    {
        string folder = Directory.CreateTempSubdirectory("ld-mainjob-").FullName;
        try
        {
            var report = await new MnistLatentDiffusion.MainJob(RunSettings.For("smoke"), folder).RunAsync(NullLogger.Instance);

            foreach (var file in new[] { "model.zip", "classifier.zip", "samples.png", "progression.png", "loss.png", "report.json", "report.md" })
                Assert.True(new FileInfo(Path.Combine(folder, file)).Length > 0, file);
            var json = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "report.json")))!;
            foreach (var key in new[] { "validation", "random", "vae", "diffusion" })
                Assert.True(double.IsFinite(json["fid"]![key]!.GetValue<double>()), key);
            Assert.InRange(json["classifier"]!["testAccuracy"]!.GetValue<double>(), 0, 1);
            Assert.True(json["throughput"]!["generationImagesPerSecond"]!.GetValue<double>() > 0);
            var markdown = File.ReadAllText(Path.Combine(folder, "report.md"));
            foreach (var seed in new[] { "48.43", "63.49", "6.02", "0.30" }) Assert.Contains(seed, markdown);
            // The report explains itself: what the seed column is, the floor, KID's unit, and the targets met or not.
            foreach (var words in new[] { "seed documents 000/004", "is the floor", "not scaled by 1000", "## Targets", "| whole run <= 30 minutes (seconds) |" })
                Assert.Contains(words, markdown);
            Assert.Equal("smoke", report["preset"]!.GetValue<string>());
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
