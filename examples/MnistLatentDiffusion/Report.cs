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

    private static string Pm(JsonNode? stat, string format = "F3") =>
        stat is null ? "-" : $"{F(stat["mean"], format)} +- {F(stat["std"], format)}";

    private static string Values(JsonNode? stat, string format = "F3") =>
        stat?["values"] is JsonArray values ? string.Join(", ", values.Select(v => F(v, format))) : "-";

    public static string Markdown(JsonObject r)
    {
        if (r["rows"] is not JsonObject || r["evaluationSets"] is null || r["unconditionalModel"] is null)
            throw new InvalidDataException("report.json has no 'rows', 'evaluationSets' or 'unconditionalModel': it was written by an older version of the main job, whose report.md stands as written; run the main job again for a report of this version.");
        var rows = r["rows"]!;
        var sampler = r["sampler"]!;
        var diffusionModel = r["diffusionModel"]!;
        var free = r["unconditionalModel"]!;
        int sets = r["evaluationSets"]!.GetValue<int>();
        double floor = rows["validation"]!["fid"]!["mean"]!.GetValue<double>();
        double floorStd = rows["validation"]!["fid"]!["std"]!.GetValue<double>();
        string Ratio(JsonNode? row) => row?["fid"]?["mean"] is { } mean && floor > 0 ? (mean.GetValue<double>() / floor).ToString("F2", CultureInfo.InvariantCulture) + "x" : "-";
        var sb = new StringBuilder();
        sb.AppendLine($"# LatentDiffusion report: preset `{r["preset"]}`");
        sb.AppendLine();
        sb.AppendLine($"Seed {r["seed"]}, device {r["device"]}, {r["trainRows"]} training images. Every generator row is measured on {sets} held-out request sets of "
            + $"{r["samples"]} images each and given as mean +- standard deviation over the sets; the floor is measured against disjoint blocks of the training split.");
        sb.AppendLine();
        sb.AppendLine($"- Class-conditional model: {diffusionModel["schedule"]} schedule, {diffusionModel["objective"]} objective, Min-SNR {F(diffusionModel["minSnrGamma"], "0.##")}, "
            + $"UNet width {diffusionModel["width"]}, {diffusionModel["epochs"]} epochs"
            + (diffusionModel["autoguidanceWidth"]?.GetValue<int>() is > 0 and var weakWidth ? $", autoguidance UNet width {weakWidth}, {diffusionModel["autoguidanceEpochs"]} epochs" : "")
            + $"; sampled with {sampler["name"]} {sampler["steps"]} steps, guidance {F(sampler["guidanceScale"], "0.##")} on noise levels t/T in [{F(sampler["guidanceMinNoise"], "0.##")}, {F(sampler["guidanceMaxNoise"], "0.##")}] "
            + Autoguidance(r)
            + $"({sampler["denoiserPassesPerImage"]} denoiser passes per image{AutoguidancePasses(r)}, {sampler["precision"]}).");
        sb.AppendLine($"- Unconditional model (seed 000's task): trained on a view without the label column, UNet width {free["width"]}, {free["epochs"]} epochs, "
            + $"autoguidance UNet width {free["autoguidanceWidth"]}, {free["autoguidanceEpochs"]} epochs; sampled with {sampler["name"]} {sampler["steps"]} steps and autoguidance {F(free["autoguidanceScale"], "0.##")} "
            + $"({free["denoiserPassesPerImage"]} denoiser and {free["autoguidancePassesPerImage"]} autoguidance passes per image).");
        sb.AppendLine($"- VAE ({r["vae"]!["architecture"]?.GetValue<string>() ?? "Plain"}{(r["vae"]!["attention"]?.GetValue<bool>() == true ? " with self-attention" : "")}) {r["vae"]!["epochs"]} epochs" + (r["vae"]!["latentShape"] is JsonArray shape ? $", latent {string.Join("x", shape.Select(v => v!.GetValue<int>()))}" : "") + "; " + (r["trainingPrecision"]?.GetValue<string>() == "BFloat16"
            ? "VAE and UNets trained in bfloat16 mixed precision (float32 master weights); the classifier in float32." : "everything trained in float32."));
        if (r["precisionChoice"] is JsonObject choice)
            sb.AppendLine(FormattableString.Invariant($"- Number format chosen at the start of the run: {choice["chosen"]} (3x3 convolution {choice["convShape"]}, batch 256: ")
                + FormattableString.Invariant($"{choice["convBFloat16Gflops"]!.GetValue<double>():F0} GFLOP/s in bfloat16, {choice["convFloat32Gflops"]!.GetValue<double>():F0} in float32; {choice["rule"]})."));
        sb.AppendLine();
        sb.AppendLine("## The instrument");
        sb.AppendLine();
        var classifier = r["classifier"]!;
        var instrument = r["instrument"]!;
        sb.AppendLine($"FID (Frechet distance between the feature distributions of two image sets; lower is better) uses the 128 features of this run's own digit "
            + $"classifier: the library's `{classifier["kind"]}` network, {classifier["epochs"]} epochs with augmentation, **{F(classifier["testAccuracy"], "P2")}** on the "
            + "10,000 MNIST test digits. It is trained on training digits only and never appears in any other network's loss."
            + (classifier["instrumentVersion"]?.GetValue<int>() == 2
                ? " Instrument version 2: after training, its batch-norm statistics were recomputed on the plain training digits; figures from version-1 instruments (runs before issue 26) are not directly comparable." : ""));
        sb.AppendLine();
        sb.AppendLine($"The floor is what real digits score: the test digits against disjoint blocks of {r["samples"]} training digits, "
            + $"**{Pm(rows["validation"]!["fid"], "F4")}** over {((JsonArray)rows["validation"]!["sets"]!).Count} blocks ({Values(rows["validation"]!["fid"], "F4")}). "
            + "A difference between two rows smaller than a few of these standard deviations is noise.");
        sb.AppendLine();
        sb.AppendLine("Does it see flaws? The same test digits, slightly damaged, against the floor's first block:");
        sb.AppendLine();
        double firstBlock = ((JsonArray)rows["validation"]!["fid"]!["values"]!)[0]!.GetValue<double>();
        string Over(JsonNode? node) => node is null ? "-" : (node.GetValue<double>() / firstBlock).ToString("F1", CultureInfo.InvariantCulture) + "x";
        sb.AppendLine("| test digits | FID | over the undamaged comparison |");
        sb.AppendLine("| --- | ---: | ---: |");
        sb.AppendLine($"| undamaged (the floor's first block) | {firstBlock.ToString("F4", CultureInfo.InvariantCulture)} | 1.0x |");
        sb.AppendLine($"| blurred by a 3x3 [1 2 1]/4 kernel | {F(instrument["blurredTestDigitsFid"], "F4")} | {Over(instrument["blurredTestDigitsFid"])} |");
        sb.AppendLine($"| with Gaussian noise of std 0.1 | {F(instrument["noisedTestDigitsFid"], "F4")} | {Over(instrument["noisedTestDigitsFid"])} |");
        sb.AppendLine();
        sb.AppendLine("## FID");
        sb.AppendLine();
        sb.AppendLine("Generated images are scored against the MNIST test split. The seed column holds the figures seed documents 000/004 report, "
            + "measured with the seed's own classifier: absolute values are not comparable across the two columns (another network, other units), "
            + "only each row's distance above its own column's floor. On the seed's instrument its diffusion row is 6.02 / 0.30 = 20x its floor.");
        sb.AppendLine();
        sb.AppendLine($"| FID | seed 000/004 | ours (mean +- std over sets) | ours / floor |");
        sb.AppendLine("| --- | ---: | ---: | ---: |");
        sb.AppendLine($"| Random (Gaussian noise with the training pixels' mean and std) | 48.43 | {Pm(rows["random"]!["fid"], "F2")} | {Ratio(rows["random"])} |");
        sb.AppendLine($"| VAE (decoded N(0, I) latents) | 63.49 | {Pm(rows["vae"]!["fid"], "F2")} | {Ratio(rows["vae"])} |");
        sb.AppendLine($"| Diffusion, unconditional: a model trained with no labels (the seed's task) | 6.02 | {Pm(rows["unconditionalModel"]!["fid"])} | {Ratio(rows["unconditionalModel"])} |");
        sb.AppendLine($"| Validation (the floor) | 0.30 | {Pm(rows["validation"]!["fid"], "F4")} | 1.00x |");
        sb.AppendLine($"| Diffusion, class-conditional with guidance (no seed counterpart) | - | {Pm(rows["diffusion"]!["fid"])} | {Ratio(rows["diffusion"])} |");
        sb.AppendLine($"| VAE reconstructions of training images (what decoded latents can reach) | - | {Pm(rows["vaeReconstruction"]!["fid"])} | {Ratio(rows["vaeReconstruction"])} |");
        sb.AppendLine();
        sb.AppendLine("Which rows correspond: the seed's diffusion model is unconditional (no labels anywhere), and so is our unconditional row, "
            + "a separate model trained on the latents with the label column removed. The class-conditional row asks for a digit and is "
            + "steered towards it; the seed has no conditional model, so nothing stands beside it.");
        sb.AppendLine();
        sb.AppendLine("## Other measures (mean +- std over the held-out sets)");
        sb.AppendLine();
        sb.AppendLine("KID is the unbiased squared maximum mean discrepancy between the same 128-d features with the kernel (x.y / 128 + 1)^3, "
            + "in the features' own squared units (not scaled by 1000), averaged over 50 random subsets of min(1000, images) rows. Precision / recall: "
            + "the share of generated images inside the real images' k-nearest-neighbour balls (k = 3), and the reverse.");
        sb.AppendLine();
        sb.AppendLine("| quality | class-conditional | unconditional model |");
        sb.AppendLine("| --- | ---: | ---: |");
        sb.AppendLine($"| accuracy on the digit asked for | {Pm(rows["diffusion"]!["accuracy"], "P2")} | - |");
        sb.AppendLine($"| label entropy of the classified samples (balanced: ln 10 = 2.303) | {Pm(rows["diffusion"]!["labelEntropy"])} | {Pm(rows["unconditionalModel"]!["labelEntropy"])} |");
        sb.AppendLine($"| KID | {Pm(rows["diffusion"]!["kid"], "F5")} | {Pm(rows["unconditionalModel"]!["kid"], "F5")} |");
        sb.AppendLine($"| precision | {Pm(rows["diffusion"]!["precision"])} | {Pm(rows["unconditionalModel"]!["precision"])} |");
        sb.AppendLine($"| recall | {Pm(rows["diffusion"]!["recall"])} | {Pm(rows["unconditionalModel"]!["recall"])} |");
        sb.AppendLine();
        var scales = r["vae"]!["latentChannelScales"] as JsonArray;
        sb.AppendLine($"VAE: test reconstruction MSE {F(r["vae"]!["reconstructionMse"], "F5")}; the latent channels' standard deviations before standardisation: "
            + (scales is null ? "-" : string.Join(", ", scales.Select(v => F(v)))) + ".");
        sb.AppendLine();
        sb.AppendLine("## What was tuned on what");
        sb.AppendLine();
        sb.AppendLine("Held-out request sets (nothing was chosen on them): " + string.Join("; ", ((JsonArray)rows["diffusion"]!["sets"]!).Select(v => v!.GetValue<string>()))
            + " for the class-conditional model (labels i mod 10); " + string.Join("; ", ((JsonArray)rows["unconditionalModel"]!["sets"]!).Select(v => v!.GetValue<string>()))
            + " for the unconditional model. VAE reconstructions: " + string.Join("; ", ((JsonArray)rows["vaeReconstruction"]!["sets"]!).Select(v => v!.GetValue<string>())) + ".");
        sb.AppendLine();
        sb.AppendLine($"- Class-conditional sampling: {sampler["tunedOn"]}.");
        if (sampler["tuning"] is JsonArray guidanceTuning)
            sb.AppendLine($"- Its guidance, on the tuning set ({sampler["tuningSeeds"]}), FID (accuracy): "
                + string.Join("; ", guidanceTuning.Select(g => $"{F(g!["guidanceScale"], "0.##")} on [{F(g["guidanceMinNoise"], "0.##")}, {F(g["guidanceMaxNoise"], "0.##")}] -> {F(g["fid"])} ({F(g["accuracy"], "P1")})"))
                + $"; chosen {F(sampler["guidanceScale"], "0.##")} on [{F(sampler["guidanceMinNoise"], "0.##")}, {F(sampler["guidanceMaxNoise"], "0.##")}], {sampler["chosenBy"]?.GetValue<string>() ?? "the lowest FID"}.");
        sb.AppendLine($"- Unconditional model: its autoguidance scale was chosen in this run on a tuning set ({free["tuningSeeds"]}): "
            + string.Join(", ", ((JsonArray)free["tuning"]!).Select(t => $"{F(t!["autoguidanceScale"], "0.##")} -> {F(t["fid"])}")) + $"; chosen {F(free["autoguidanceScale"], "0.##")}.");
        sb.AppendLine("- Epochs and widths: set by the time budget, not by any request set.");
        sb.AppendLine();
        var t = r["timings"]!;
        var p = r["throughput"]!;
        sb.AppendLine("## Time and speed (this machine)");
        sb.AppendLine();
        sb.AppendLine("| step | time |");
        sb.AppendLine("| --- | ---: |");
        sb.AppendLine($"| classifier training | {F(t["classifierSeconds"], "F0")} s ({F(p["classifierTrainSamplesPerSecond"], "F0")} images/s) |");
        sb.AppendLine($"| VAE training | {F(t["vaeSeconds"], "F0")} s ({F(p["vaeTrainSamplesPerSecond"], "F0")} images/s) |");
        sb.AppendLine($"| class-conditional diffusion training | {F(t["diffusionSeconds"], "F0")} s ({F(p["diffusionTrainSamplesPerSecond"], "F0")} samples/s) |");
        if (t["autoguidanceSeconds"]?.GetValue<double>() is > 0 and var weakSeconds) sb.AppendLine($"| its autoguidance denoiser | {weakSeconds:F0} s |");
        sb.AppendLine($"| unconditional model and its autoguidance denoiser | {F(t["unconditionalModelSeconds"], "F0")} s |");
        sb.AppendLine($"| sampling {sets} x {r["samples"]} class-conditional images | {F(t["samplingSeconds"], "F0")} s ({F(p["generationImagesPerSecond"], "F0")} decoded images/s) |");
        sb.AppendLine($"| sampling {sets} x {r["samples"]} unconditional images | {F(t["unconditionalSamplingSeconds"], "F0")} s ({F(p["unconditionalImagesPerSecond"], "F0")} decoded images/s) |");
        sb.AppendLine($"| whole run | {F(t["totalSeconds"], "F0")} s |");
        sb.AppendLine();
        sb.AppendLine("## Targets");
        sb.AppendLine();
        sb.AppendLine("On this run's instrument and held-out sets (means). The targets are set for the `default` preset on a 2-core CPU; other presets are measured against them for reference only.");
        sb.AppendLine();
        sb.AppendLine("| target | value | met |");
        sb.AppendLine("| --- | ---: | --- |");
        void Target(string what, double? value, Func<double, bool> met, string format)
        {
            string text = value is null ? "-" : value.Value.ToString(format, CultureInfo.InvariantCulture);
            sb.AppendLine($"| {what} | {text} | {(value is null ? "-" : met(value.Value) ? "yes" : "no")} |");
        }
        double? Mean(JsonNode? row, string metric) => row?[metric]?["mean"]?.GetValue<double>();
        Target("classifier test accuracy >= 99.5%", classifier["testAccuracy"]?.GetValue<double>(), v => v >= 0.995, "P2");
        Target("class-conditional FID <= 1.3x the floor", Mean(rows["diffusion"], "fid") / floor, v => v <= 1.3, "F2");
        Target("accuracy on class-conditional samples >= 99%", Mean(rows["diffusion"], "accuracy"), v => v >= 0.99, "P2");
        Target("unconditional model FID <= 2.5x the floor", Mean(rows["unconditionalModel"], "fid") / floor, v => v <= 2.5, "F2");
        Target("label entropy of the unconditional model's samples >= 0.97 ln 10 = 2.234", Mean(rows["unconditionalModel"], "labelEntropy"), v => v >= 0.97 * Math.Log(10), "F3");
        Target("VAE reconstructions FID <= 1.2x the floor", Mean(rows["vaeReconstruction"], "fid") / floor, v => v <= 1.2, "F2");
        Target("whole run <= 30 minutes (seconds)", t["totalSeconds"]?.GetValue<double>(), v => v <= 1800, "F0");
        Target("generation >= 100 decoded images/s (class-conditional)", p["generationImagesPerSecond"]?.GetValue<double>(), v => v >= 100, "F0");
        sb.AppendLine();
        sb.AppendLine($"The floor's standard deviation ({floorStd.ToString("F4", CultureInfo.InvariantCulture)}) is {(floorStd / floor).ToString("P0", CultureInfo.InvariantCulture)} of it: ratios are uncertain by about that much.");
        sb.AppendLine();
        sb.AppendLine("Reproduce: `dotnet run -c Release --project examples/MnistLatentDiffusion -- --preset " + r["preset"] + "`.");
        return sb.ToString();
    }
}
