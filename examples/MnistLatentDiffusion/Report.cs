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
        sb.AppendLine("## FID");
        sb.AppendLine();
        sb.AppendLine("FID (Frechet distance between the feature distributions of two image sets; lower is better) uses the 128 features of "
            + "this run's own digit classifier, with generated images scored against the MNIST test split. The seed column holds the "
            + "figures seed documents 000/004 report, measured with the seed's own classifier: absolute values are not comparable "
            + "across the two columns, only rows within a column. The validation row (real test digits against real training "
            + "digits) is the floor: what real digits score on this instrument. The last column is each of our rows over that floor.");
        sb.AppendLine();
        double? floor = fid["validation"]?.GetValue<double>();
        string Ratio(JsonNode? node) => node is null || floor is not > 0 ? "-" : (node.GetValue<double>() / floor.Value).ToString("F2", CultureInfo.InvariantCulture) + "x";
        sb.AppendLine("| FID | seed 000/004 | ours | ours / floor |");
        sb.AppendLine("| --- | ---: | ---: | ---: |");
        sb.AppendLine($"| Random (Gaussian noise with the training pixels' mean and std) | 48.43 | {F(fid["random"], "F2")} | {Ratio(fid["random"])} |");
        sb.AppendLine($"| VAE (decoded N(0, I) latents) | 63.49 | {F(fid["vae"], "F2")} | {Ratio(fid["vae"])} |");
        sb.AppendLine($"| Diffusion (class-conditional, guided) | 6.02 (unconditional) | {F(fid["diffusion"])} | {Ratio(fid["diffusion"])} |");
        sb.AppendLine($"| Validation (the floor) | 0.30 | {F(fid["validation"])} | 1.00x |");
        sb.AppendLine($"| Diffusion, unconditional (guidance 0) | - | {F(fid["diffusionUnconditional"])} | {Ratio(fid["diffusionUnconditional"])} |");
        sb.AppendLine($"| VAE reconstructions of training images (what decoded latents can reach) | - | {F(fid["vaeReconstruction"])} | {Ratio(fid["vaeReconstruction"])} |");
        sb.AppendLine();
        sb.AppendLine("Which rows correspond: the seed's diffusion model is unconditional (no labels anywhere). Our diffusion row is a "
            + "class-conditional model sampled with guidance; the row that corresponds to the seed's is the unconditional one, which "
            + "here comes from the label-dropout branch of the same conditional model, not from a model trained without labels.");
        sb.AppendLine();
        sb.AppendLine("## Other measures");
        sb.AppendLine();
        sb.AppendLine($"KID is the unbiased squared maximum mean discrepancy between the same 128-d features with the kernel (x.y / 128 + 1)^3, "
            + "in the features' own squared units (not scaled by 1000), as mean +- std over 50 random subsets of min(1000, images) rows "
            + "of each set; when a set has 1000 images or fewer every subset is the whole set and the std is 0. Precision / recall: "
            + "the share of generated images inside the real images' k-nearest-neighbour balls, and the reverse.");
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
        sb.AppendLine("## Targets");
        sb.AppendLine();
        sb.AppendLine("The targets are set for the `default` preset on a 2-core CPU; other presets are measured against them for reference only.");
        sb.AppendLine();
        sb.AppendLine("| target | value | met |");
        sb.AppendLine("| --- | ---: | --- |");
        void Target(string what, JsonNode? node, Func<double, bool> met, string format)
        {
            string value = F(node, format);
            sb.AppendLine($"| {what} | {value} | {(node is null ? "-" : met(node.GetValue<double>()) ? "yes" : "no")} |");
        }
        Target("classifier test accuracy >= 99%", r["classifier"]!["testAccuracy"], v => v >= 0.99, "P2");
        Target("diffusion FID <= 3.0", fid["diffusion"], v => v <= 3.0, "F3");
        Target("accuracy on class-conditional samples >= 98%", r["conditional"]!["accuracy"], v => v >= 0.98, "P2");
        Target("label entropy of unconditional samples >= 0.97 ln 10 = 2.234", r["unconditional"]!["labelEntropy"], v => v >= 0.97 * Math.Log(10), "F3");
        Target("whole run <= 30 minutes (seconds)", t["totalSeconds"], v => v <= 1800, "F0");
        Target("generation >= 100 decoded images/s", p["generationImagesPerSecond"], v => v >= 100, "F0");
        sb.AppendLine();
        sb.AppendLine("Reproduce: `dotnet run -c Release --project examples/MnistLatentDiffusion -- --preset " + r["preset"] + "`.");
        return sb.ToString();
    }
}
