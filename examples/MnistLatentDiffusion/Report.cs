using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using LatentDiffusion.IO;

namespace MnistLatentDiffusion;

/// <summary>Writes report.json and report.md (the seed's FID table beside ours).</summary>
public static class Report
{
    public static void Write(string directory, JsonObject report)
    {
        AtomicFile.WriteAllText(Path.Combine(directory, "report.json"), report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        AtomicFile.WriteAllText(Path.Combine(directory, "report.md"), Markdown(report));
    }

    private static string F(JsonNode? node, string format = "F3") =>
        node is null ? "-" : node.GetValue<double>().ToString(format, CultureInfo.InvariantCulture);

    private static string Autoguidance(JsonObject r) =>
        r["sampler"]!["autoguidanceScale"]?.GetValue<double>() is { } scale and not 1 ? $"and autoguidance {scale:0.##} on noise levels [{F(r["sampler"]!["autoguidanceMinNoise"], "0.##")}, {F(r["sampler"]!["autoguidanceMaxNoise"], "0.##")}] " : "";

    private static string AutoguidancePasses(JsonObject r) =>
        r["sampler"]!["autoguidancePassesPerImage"]?.GetValue<int>() is > 0 and var passes ? $" and {passes} autoguidance-denoiser passes" : "";

    public static string Markdown(JsonObject r)
    {
        var fid = r["fid"]!;
        var sb = new StringBuilder();
        sb.AppendLine($"# LatentDiffusion report: preset `{r["preset"]}`");
        sb.AppendLine();
        sb.AppendLine($"Seed {r["seed"]}, device {r["device"]}, {r["samples"]} samples per row, {r["trainRows"]} training images, sampler DDIM {r["sampler"]!["steps"]} steps, "
            + $"guidance {F(r["sampler"]!["guidanceScale"], "0.##")} on noise levels t/T in [{F(r["sampler"]!["guidanceMinNoise"], "0.##")}, {F(r["sampler"]!["guidanceMaxNoise"], "0.##")}] "
            + Autoguidance(r)
            + $"({r["sampler"]!["denoiserPassesPerImage"]} denoiser passes per image{AutoguidancePasses(r)}, {r["sampler"]!["precision"]}); diffusion model: {r["diffusionModel"]!["schedule"]} schedule, "
            + $"{r["diffusionModel"]!["objective"]} objective, Min-SNR {F(r["diffusionModel"]!["minSnrGamma"], "0.##")}, width {r["diffusionModel"]!["width"]}, {r["diffusionModel"]!["epochs"]} epochs"
            + (r["diffusionModel"]!["autoguidanceWidth"]?.GetValue<int>() is > 0 and var weakWidth ? $", autoguidance UNet width {weakWidth}, {r["diffusionModel"]!["autoguidanceEpochs"]} epochs" : "")
            + (r["trainingPrecision"]?.GetValue<string>() switch
            {
                null => ".",
                "BFloat16" => "; VAE and UNet trained in bfloat16 mixed precision (float32 master weights).",
                var precision => $"; VAE and UNet trained in {precision}.",
            }));
        sb.AppendLine();
        sb.AppendLine("| FID (own classifier features) | seed 000/004 | ours |");
        sb.AppendLine("| --- | ---: | ---: |");
        sb.AppendLine($"| Random | 48.43 | {F(fid["random"], "F2")} |");
        sb.AppendLine($"| VAE | 63.49 | {F(fid["vae"], "F2")} |");
        sb.AppendLine($"| Diffusion | 6.02 | {F(fid["diffusion"])} |");
        sb.AppendLine($"| Validation | 0.30 | {F(fid["validation"])} |");
        sb.AppendLine($"| Diffusion, unconditional (guidance 0) | - | {F(fid["diffusionUnconditional"])} |");
        sb.AppendLine($"| VAE reconstructions of training images (floor for the diffusion row) | - | {F(fid["vaeReconstruction"])} |");
        sb.AppendLine();
        sb.AppendLine("| quality | value |");
        sb.AppendLine("| --- | ---: |");
        sb.AppendLine($"| classifier test accuracy | {F(r["classifier"]!["testAccuracy"], "P2")} |");
        sb.AppendLine($"| VAE test reconstruction MSE | {F(r["vae"]!["reconstructionMse"], "F5")} |");
        sb.AppendLine($"| KID diffusion (mean +- std over subsets) | {F(r["kid"]!["diffusion"], "F5")} +- {F(r["kid"]!["diffusionStd"], "F5")} |");
        sb.AppendLine($"| precision / recall (k = 3) | {F(r["precisionRecall"]!["precision"])} / {F(r["precisionRecall"]!["recall"])} |");
        sb.AppendLine($"| accuracy on class-conditional samples | {F(r["conditional"]!["accuracy"], "P2")} |");
        sb.AppendLine($"| label entropy of unconditional samples (max ln 10 = 2.303) | {F(r["unconditional"]!["labelEntropy"])} |");
        sb.AppendLine();
        var t = r["timings"]!;
        var p = r["throughput"]!;
        sb.AppendLine("| time and speed (this machine) | value |");
        sb.AppendLine("| --- | ---: |");
        sb.AppendLine($"| classifier training | {F(t["classifierSeconds"], "F0")} s ({F(p["classifierTrainSamplesPerSecond"], "F0")} images/s) |");
        sb.AppendLine($"| VAE training | {F(t["vaeSeconds"], "F0")} s ({F(p["vaeTrainSamplesPerSecond"], "F0")} images/s) |");
        sb.AppendLine($"| diffusion training | {F(t["diffusionSeconds"], "F0")} s ({F(p["diffusionTrainSamplesPerSecond"], "F0")} samples/s) |");
        if (t["autoguidanceSeconds"]?.GetValue<double>() is > 0 and var weakSeconds) sb.AppendLine($"| autoguidance denoiser training | {weakSeconds:F0} s |");
        sb.AppendLine($"| sampling {r["samples"]} conditional images | {F(t["samplingSeconds"], "F0")} s ({F(p["generationImagesPerSecond"], "F0")} decoded images/s) |");
        sb.AppendLine($"| whole run | {F(t["totalSeconds"], "F0")} s |");
        sb.AppendLine();
        sb.AppendLine("Reproduce: `dotnet run -c Release --project examples/MnistLatentDiffusion -- --preset " + r["preset"] + "`.");
        return sb.ToString();
    }
}
