using System.CommandLine;
using System.Text.Json.Nodes;
using LatentDiffusion.IO;
using MnistLatentDiffusion.CommandLine;
using MnistLatentDiffusion.Reports;

namespace MnistLatentDiffusion.Commands;

/// <summary><c>render-report</c> (hidden): report.md written again beside a run's report.json.</summary>
internal static class RenderReportCommand
{
    public static Command Create(CommonOptions common)
    {
        var reportJson = new Argument<string>("report.json") { Description = "A run's report.json" };
        var render = new Command("render-report", "Write report.md again beside a run's report.json (after a change to how reports read).") { Hidden = true };
        render.Arguments.Add(reportJson);
        render.SetAction(Cli.Guarded(common.Verbose, (p, _) =>
        {
            string path = p.GetValue(reportJson)!;
            if (!File.Exists(path)) throw new CommandLineException($"report.json '{path}': no such file.");
            var report = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
            AtomicFile.WriteAllText(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, "report.md"), Report.Markdown(report));
            return Task.FromResult(0);
        }));
        return render;
    }
}
