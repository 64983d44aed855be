using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using LatentDiffusion.IO;

namespace MnistLatentDiffusion.Reports;

/// <summary>Writes report.json and report.md (the seed's FID table beside ours), one section of report.md per method.</summary>
public static class Report
{
    public static void Write(string directory, JsonObject report)
    {
        AtomicFile.WriteAllText(Path.Combine(directory, "report.json"), report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        AtomicFile.WriteAllText(Path.Combine(directory, "report.md"), Markdown(report));
    }

    private static string F(JsonNode? node, string format = "F3") =>
        node is null ? "-" : node.GetValue<double>().ToString(format, CultureInfo.InvariantCulture);

    private static string Pm(JsonNode? stat, string format = "F3") =>
        stat is null ? "-" : $"{F(stat["mean"], format)} +- {F(stat["std"], format)}";

    private static string Values(JsonNode? stat, string format = "F3") =>
        stat?["values"] is JsonArray values ? string.Join(", ", values.Select(v => F(v, format))) : "-";

    private static string Sets(JsonNode? row) => string.Join("; ", ((JsonArray)row!["sets"]!).Select(v => v!.GetValue<string>()));

    private static double Floor(JsonObject r) => r["rows"]!["validation"]!["fid"]!["mean"]!.GetValue<double>();

    private static string Ratio(JsonObject r, JsonNode? row) => row?["fid"]?["mean"] is { } mean && Floor(r) > 0
        ? (mean.GetValue<double>() / Floor(r)).ToString("F2", CultureInfo.InvariantCulture) + "x" : "-";

    public static string Markdown(JsonObject r)
    {
        if (r["rows"] is not JsonObject || r["evaluationSets"] is null || r["unconditionalModel"] is null)
            throw new InvalidDataException("report.json has no 'rows', 'evaluationSets' or 'unconditionalModel': it was written by an older version of the "
                + "main job, whose report.md stands as written; run the main job again for a report of this version.");
        var sb = new StringBuilder();
        Summary(sb, r);
        Instrument(sb, r);
        FidTable(sb, r);
        OtherMeasures(sb, r);
        Tuning(sb, r);
        Times(sb, r);
        Targets(sb, r);
        return sb.ToString();
    }

    private static void Summary(StringBuilder sb, JsonObject r)
    {
        var (sampler, diffusion, free) = (r["sampler"]!, r["diffusionModel"]!, r["unconditionalModel"]!);
        sb.AppendLine($"# LatentDiffusion report: preset `{r["preset"]}`");
        sb.AppendLine();
        sb.AppendLine($"Seed {r["seed"]}, device {r["device"]}, {r["trainRows"]} training images. Every generator row is measured on {r["evaluationSets"]} "
            + $"held-out request sets of {r["samples"]} images each and given as mean +- standard deviation over the sets; the floor is measured against "
            + "disjoint blocks of the training split.");
        sb.AppendLine();
        string weak = diffusion["autoguidanceWidth"]?.GetValue<int>() is > 0 and var weakWidth
            ? $", autoguidance UNet width {weakWidth}, {diffusion["autoguidanceEpochs"]} epochs" : "";
        string autoguidance = sampler["autoguidanceScale"]?.GetValue<double>() is { } scale and not 1
            ? $"and autoguidance {scale:0.##} on noise levels "
                + $"[{F(sampler["autoguidanceMinNoise"], "0.##")}, {F(sampler["autoguidanceMaxNoise"], "0.##")}] "
            : "";
        string weakPasses = sampler["autoguidancePassesPerImage"]?.GetValue<int>() is > 0 and var passes ? $" and {passes} autoguidance-denoiser passes" : "";
        sb.AppendLine($"- Class-conditional model: {diffusion["schedule"]} schedule, {diffusion["objective"]} objective, Min-SNR "
            + $"{F(diffusion["minSnrGamma"], "0.##")}, UNet width {diffusion["width"]}, {diffusion["epochs"]} epochs{weak}; sampled with {sampler["name"]} "
            + $"{sampler["steps"]} steps, guidance {F(sampler["guidanceScale"], "0.##")} on noise levels t/T in [{F(sampler["guidanceMinNoise"], "0.##")}, "
            + $"{F(sampler["guidanceMaxNoise"], "0.##")}] {autoguidance}({sampler["denoiserPassesPerImage"]} denoiser passes per image{weakPasses}, "
            + $"{sampler["precision"]}).");
        string selfLabels = free["clusters"]?.GetValue<int>() is > 0 and var k
            ? $", self-labelled guidance on {k} k-means clusters of the latents (guidance {F(free["guidanceScale"], "0.##")})" : "";
        sb.AppendLine($"- Unconditional model (seed 000's task): trained on a view without the label column, UNet width {free["width"]}, {free["epochs"]} "
            + $"epochs, autoguidance UNet width {free["autoguidanceWidth"]}, {free["autoguidanceEpochs"]} epochs{selfLabels}; sampled with {sampler["name"]} "
            + $"{sampler["steps"]} steps and autoguidance {F(free["autoguidanceScale"], "0.##")} ({free["denoiserPassesPerImage"]} denoiser and "
            + $"{free["autoguidancePassesPerImage"]} autoguidance passes per image).");
        if (r["fewStep"] is JsonObject fast)
        {
            string grid = string.Join(", ", ((JsonArray)fast["grid"]!).Select(v => v!.ToString()));
            sb.AppendLine($"- Few-step generator (issue 43): the class-conditional model's guided sampling (guidance "
                + $"{F(fast["teacherGuidanceScale"], "0.##")}, {fast["substeps"]} DDIM steps per student step) distilled into {fast["sampler"]} on [{grid}] "
                + $"({fast["epochs"]} epochs): {fast["networkPassesPerImage"]} network passes per image, guidance included.");
        }
        var vae = r["vae"]!;
        string attention = vae["attention"]?.GetValue<bool>() == true ? " with self-attention" : "";
        string latent = vae["latentShape"] is JsonArray shape ? $", latent {string.Join("x", shape.Select(v => v!.GetValue<int>()))}" : "";
        string precision = r["trainingPrecision"]?.GetValue<string>() == "BFloat16"
            ? "VAE and UNets trained in bfloat16 mixed precision (float32 master weights); the classifier in float32." : "everything trained in float32.";
        sb.AppendLine($"- VAE ({vae["architecture"]?.GetValue<string>() ?? "Plain"}{attention}) {vae["epochs"]} epochs{latent}; {precision}");
        if (r["precisionChoice"] is JsonObject choice)
            sb.AppendLine(FormattableString.Invariant($"- Number format chosen at the start of the run: {choice["chosen"]} (3x3 convolution ")
                + FormattableString.Invariant($"{choice["convShape"]}, batch 256: {choice["convBFloat16Gflops"]!.GetValue<double>():F0} GFLOP/s in bfloat16, ")
                + FormattableString.Invariant($"{choice["convFloat32Gflops"]!.GetValue<double>():F0} in float32; {choice["rule"]})."));
        sb.AppendLine();
    }

    private static void Instrument(StringBuilder sb, JsonObject r)
    {
        var (classifier, instrument, validation) = (r["classifier"]!, r["instrument"]!, r["rows"]!["validation"]!);
        sb.AppendLine("## The instrument");
        sb.AppendLine();
        sb.AppendLine("FID (Frechet distance between the feature distributions of two image sets; lower is better) uses the 128 features of this run's "
            + $"own digit classifier: the library's `{classifier["kind"]}` network, {classifier["epochs"]} epochs with augmentation, "
            + $"**{F(classifier["testAccuracy"], "P2")}** on the 10,000 MNIST test digits. It is trained on training digits only and never appears in any "
            + "other network's loss."
            + (classifier["instrumentVersion"]?.GetValue<int>() == 2
                ? " Instrument version 2: after training, its batch-norm statistics were recomputed on the plain training digits; figures from version-1 "
                    + "instruments (runs before issue 26) are not directly comparable." : ""));
        sb.AppendLine();
        sb.AppendLine($"The floor is what real digits score: the test digits against disjoint blocks of {r["samples"]} training digits, "
            + $"**{Pm(validation["fid"], "F4")}** over {((JsonArray)validation["sets"]!).Count} blocks ({Values(validation["fid"], "F4")}). "
            + "A difference between two rows smaller than a few of these standard deviations is noise.");
        sb.AppendLine();
        sb.AppendLine("Does it see flaws? The same test digits, slightly damaged, against the floor's first block:");
        sb.AppendLine();
        double firstBlock = ((JsonArray)validation["fid"]!["values"]!)[0]!.GetValue<double>();
        string Over(JsonNode? node) => node is null ? "-" : (node.GetValue<double>() / firstBlock).ToString("F1", CultureInfo.InvariantCulture) + "x";
        sb.AppendLine("| test digits | FID | over the undamaged comparison |");
        sb.AppendLine("| --- | ---: | ---: |");
        sb.AppendLine($"| undamaged (the floor's first block) | {firstBlock.ToString("F4", CultureInfo.InvariantCulture)} | 1.0x |");
        sb.AppendLine($"| blurred by a 3x3 [1 2 1]/4 kernel | {F(instrument["blurredTestDigitsFid"], "F4")} | {Over(instrument["blurredTestDigitsFid"])} |");
        sb.AppendLine($"| with Gaussian noise of std 0.1 | {F(instrument["noisedTestDigitsFid"], "F4")} | {Over(instrument["noisedTestDigitsFid"])} |");
        sb.AppendLine();
    }

    private static void FidTable(StringBuilder sb, JsonObject r)
    {
        var rows = r["rows"]!;
        sb.AppendLine("## FID");
        sb.AppendLine();
        sb.AppendLine("Generated images are scored against the MNIST test split. The seed column holds the figures seed documents 000/004 report, "
            + "measured with the seed's own classifier: absolute values are not comparable across the two columns (another network, other units), "
            + "only each row's distance above its own column's floor. On the seed's instrument its diffusion row is 6.02 / 0.30 = 20x its floor.");
        sb.AppendLine();
        sb.AppendLine("| FID | seed 000/004 | ours (mean +- std over sets) | ours / floor |");
        sb.AppendLine("| --- | ---: | ---: | ---: |");
        void Row(string what, string seed, string key, string format = "F3") =>
            sb.AppendLine($"| {what} | {seed} | {Pm(rows[key]!["fid"], format)} | {(key == "validation" ? "1.00x" : Ratio(r, rows[key]))} |");
        Row("Random (Gaussian noise with the training pixels' mean and std)", "48.43", "random", "F2");
        Row("VAE (decoded N(0, I) latents)", "63.49", "vae", "F2");
        Row("Diffusion, unconditional: a model trained with no labels (the seed's task)", "6.02", "unconditionalModel");
        Row("Validation (the floor)", "0.30", "validation", "F4");
        Row("Diffusion, class-conditional with guidance (no seed counterpart)", "-", "diffusion");
        Row("VAE reconstructions of training images (what decoded latents can reach)", "-", "vaeReconstruction");
        if (rows["fewStep"] is JsonObject)
            Row($"Diffusion, class-conditional, few-step: {r["fewStep"]!["networkPassesPerImage"]} network passes per image", "-", "fewStep");
        sb.AppendLine();
        sb.AppendLine("Which rows correspond: the seed's diffusion model is unconditional (no labels anywhere), and so is our unconditional row, "
            + "a separate model trained on the latents with the label column removed. The class-conditional row asks for a digit and is "
            + "steered towards it; the seed has no conditional model, so nothing stands beside it.");
        sb.AppendLine();
    }

    private static void OtherMeasures(StringBuilder sb, JsonObject r)
    {
        var (conditional, free) = (r["rows"]!["diffusion"]!, r["rows"]!["unconditionalModel"]!);
        sb.AppendLine("## Other measures (mean +- std over the held-out sets)");
        sb.AppendLine();
        sb.AppendLine("KID is the unbiased squared maximum mean discrepancy between the same 128-d features with the kernel (x.y / 128 + 1)^3, "
            + "in the features' own squared units (not scaled by 1000), averaged over 50 random subsets of min(1000, images) rows. Precision / recall: "
            + "the share of generated images inside the real images' k-nearest-neighbour balls (k = 3), and the reverse.");
        sb.AppendLine();
        sb.AppendLine("| quality | class-conditional | unconditional model |");
        sb.AppendLine("| --- | ---: | ---: |");
        sb.AppendLine($"| accuracy on the digit asked for | {Pm(conditional["accuracy"], "P2")} | - |");
        sb.AppendLine("| label entropy of the classified samples (balanced: ln 10 = 2.303) | "
            + $"{Pm(conditional["labelEntropy"])} | {Pm(free["labelEntropy"])} |");
        sb.AppendLine($"| KID | {Pm(conditional["kid"], "F5")} | {Pm(free["kid"], "F5")} |");
        sb.AppendLine($"| precision | {Pm(conditional["precision"])} | {Pm(free["precision"])} |");
        sb.AppendLine($"| recall | {Pm(conditional["recall"])} | {Pm(free["recall"])} |");
        if (r["rows"]!["fewStep"] is JsonObject fast)
        {
            sb.AppendLine();
            sb.AppendLine($"Few-step generator: accuracy {Pm(fast["accuracy"], "P2")}, KID {Pm(fast["kid"], "F5")}, precision {Pm(fast["precision"])}, "
                + $"recall {Pm(fast["recall"])}.");
        }
        sb.AppendLine();
        var scales = r["vae"]!["latentChannelScales"] as JsonArray;
        sb.AppendLine($"VAE: test reconstruction MSE {F(r["vae"]!["reconstructionMse"], "F5")}; the latent channels' standard deviations before "
            + $"standardisation: {(scales is null ? "-" : string.Join(", ", scales.Select(v => F(v))))}.");
        sb.AppendLine();
    }

    private static void Tuning(StringBuilder sb, JsonObject r)
    {
        var (rows, sampler, free) = (r["rows"]!, r["sampler"]!, r["unconditionalModel"]!);
        sb.AppendLine("## What was tuned on what");
        sb.AppendLine();
        sb.AppendLine($"Held-out request sets (nothing was chosen on them): {Sets(rows["diffusion"])} for the class-conditional model (labels i mod 10); "
            + $"{Sets(rows["unconditionalModel"])} for the unconditional model. VAE reconstructions: {Sets(rows["vaeReconstruction"])}.");
        sb.AppendLine();
        sb.AppendLine($"- Class-conditional sampling: {sampler["tunedOn"]}.");
        if (sampler["tuning"] is JsonArray guidanceTuning)
            sb.AppendLine($"- Its guidance, on the tuning set ({sampler["tuningSeeds"]}), FID (accuracy): "
                + string.Join("; ", guidanceTuning.Select(g => $"{F(g!["guidanceScale"], "0.##")} on [{F(g["guidanceMinNoise"], "0.##")}, "
                    + $"{F(g["guidanceMaxNoise"], "0.##")}] -> {F(g["fid"])} ({F(g["accuracy"], "P1")})"))
                + $"; chosen {F(sampler["guidanceScale"], "0.##")} on [{F(sampler["guidanceMinNoise"], "0.##")}, {F(sampler["guidanceMaxNoise"], "0.##")}], "
                + $"{sampler["chosenBy"]?.GetValue<string>() ?? "the lowest FID"}.");
        sb.AppendLine($"- Unconditional model: its autoguidance scale was chosen in this run on a tuning set ({free["tuningSeeds"]}): "
            + string.Join(", ", ((JsonArray)free["tuning"]!).Select(t => (t!["guidanceScale"] is { } g ? $"guidance {F(g, "0.##")} / " : "")
                + $"{F(t["autoguidanceScale"], "0.##")} -> {F(t["fid"])}"))
            + $"; chosen {F(free["autoguidanceScale"], "0.##")}.");
        sb.AppendLine("- Epochs and widths: set by the time budget, not by any request set.");
        sb.AppendLine();
    }

    private static void Times(StringBuilder sb, JsonObject r)
    {
        var (t, p) = (r["timings"]!, r["throughput"]!);
        sb.AppendLine("## Time and speed (this machine)");
        sb.AppendLine();
        sb.AppendLine("| step | time |");
        sb.AppendLine("| --- | ---: |");
        sb.AppendLine($"| classifier training | {F(t["classifierSeconds"], "F0")} s ({F(p["classifierTrainSamplesPerSecond"], "F0")} images/s) |");
        sb.AppendLine($"| VAE training | {F(t["vaeSeconds"], "F0")} s ({F(p["vaeTrainSamplesPerSecond"], "F0")} images/s) |");
        sb.AppendLine($"| class-conditional diffusion training | {F(t["diffusionSeconds"], "F0")} s "
            + $"({F(p["diffusionTrainSamplesPerSecond"], "F0")} samples/s) |");
        if (t["autoguidanceSeconds"]?.GetValue<double>() is > 0 and var weakSeconds) sb.AppendLine($"| its autoguidance denoiser | {weakSeconds:F0} s |");
        sb.AppendLine($"| unconditional model and its autoguidance denoiser | {F(t["unconditionalModelSeconds"], "F0")} s |");
        string sets = $"{r["evaluationSets"]} x {r["samples"]}";
        sb.AppendLine($"| sampling {sets} class-conditional images | {F(t["samplingSeconds"], "F0")} s "
            + $"({F(p["generationImagesPerSecond"], "F0")} decoded images/s) |");
        sb.AppendLine($"| sampling {sets} unconditional images | {F(t["unconditionalSamplingSeconds"], "F0")} s "
            + $"({F(p["unconditionalImagesPerSecond"], "F0")} decoded images/s) |");
        if (t["fewStepSeconds"] is { } distillation)
        {
            sb.AppendLine($"| few-step: step distillation | {F(distillation, "F0")} s |");
            sb.AppendLine($"| sampling {sets} few-step images | {F(t["fewStepSamplingSeconds"], "F0")} s "
                + $"({F(p["fewStepImagesPerSecond"], "F0")} decoded images/s) |");
        }
        sb.AppendLine($"| whole run | {F(t["totalSeconds"], "F0")} s |");
        sb.AppendLine();
    }

    private static void Targets(StringBuilder sb, JsonObject r)
    {
        var rows = r["rows"]!;
        double floor = Floor(r), floorStd = rows["validation"]!["fid"]!["std"]!.GetValue<double>();
        sb.AppendLine("## Targets");
        sb.AppendLine();
        sb.AppendLine("On this run's instrument and held-out sets (means). The targets are set for the `default` preset on a 2-core CPU; other presets are "
            + "measured against them for reference only.");
        sb.AppendLine();
        sb.AppendLine("| target | value | met |");
        sb.AppendLine("| --- | ---: | --- |");
        void Target(string what, double? value, Func<double, bool> met, string format)
        {
            string text = value is null ? "-" : value.Value.ToString(format, CultureInfo.InvariantCulture);
            sb.AppendLine($"| {what} | {text} | {(value is null ? "-" : met(value.Value) ? "yes" : "no")} |");
        }
        double? Mean(string row, string metric) => rows[row]?[metric]?["mean"]?.GetValue<double>();
        Target("classifier test accuracy >= 99.5%", r["classifier"]!["testAccuracy"]?.GetValue<double>(), v => v >= 0.995, "P2");
        Target("class-conditional FID <= 1.3x the floor", Mean("diffusion", "fid") / floor, v => v <= 1.3, "F2");
        Target("accuracy on class-conditional samples >= 99%", Mean("diffusion", "accuracy"), v => v >= 0.99, "P2");
        Target("unconditional model FID <= 1.6x the floor", Mean("unconditionalModel", "fid") / floor, v => v <= 1.6, "F2");
        Target("label entropy of the unconditional model's samples >= 0.97 ln 10 = 2.234", Mean("unconditionalModel", "labelEntropy"),
            v => v >= 0.97 * Math.Log(10), "F3");
        Target("VAE reconstructions FID <= 1.2x the floor", Mean("vaeReconstruction", "fid") / floor, v => v <= 1.2, "F2");
        if (rows["fewStep"] is JsonObject)
        {
            Target("few-step (<= 4 network passes) FID <= 1.6x the floor", Mean("fewStep", "fid") / floor, v => v <= 1.6, "F2");
            Target("accuracy on few-step samples >= 99%", Mean("fewStep", "accuracy"), v => v >= 0.99, "P2");
        }
        Target("whole run <= 30 minutes (seconds)", r["timings"]!["totalSeconds"]?.GetValue<double>(), v => v <= 1800, "F0");
        double? rate = r["throughput"]!["generationImagesPerSecond"]?.GetValue<double>();
        Target("generation >= 100 decoded images/s (class-conditional)", rate, v => v >= 100, "F0");
        sb.AppendLine();
        sb.AppendLine($"The floor's standard deviation ({floorStd.ToString("F4", CultureInfo.InvariantCulture)}) is "
            + $"{(floorStd / floor).ToString("P0", CultureInfo.InvariantCulture)} of it: ratios are uncertain by about that much.");
        sb.AppendLine();
        sb.AppendLine("Reproduce: `dotnet run -c Release --project examples/MnistLatentDiffusion -- --preset " + r["preset"] + "`.");
    }
}
