using System.Diagnostics;
using LatentDiffusion.Tests.MLNet;
using Microsoft.ML;
using MnistLatentDiffusion.CommandLine;
using ImageRow = LatentDiffusion.Tests.MLNet.ImageRow;

namespace LatentDiffusion.Tests.Examples;

/// <summary>
/// The example app run as a user runs it: a separate process in an empty working folder, relative paths, output
/// redirected. Each mistake must give one line on stderr, a non-zero exit code, no stack trace, and leave the folder empty.
/// </summary>
[Trait("Data", "MNIST")]
public class CommandLineTests(TinyModels models) : IClassFixture<TinyModels>, IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("ld-cli-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    internal sealed record Run(int ExitCode, string Out, string Error, TimeSpan Elapsed);

    /// <summary>Starts the app; <paramref name="interruptWhen"/> sends SIGINT once a line of its output contains that text.</summary>
    internal static Run App(string workingDirectory, string[] args, string? interruptWhen = null, TimeSpan? timeout = null,
        Dictionary<string, string>? environment = null)
    {
        string app = typeof(Cli).Assembly.Location;
        // A test run started in the background by a non-interactive shell (`dotnet test ... &`) ignores SIGINT, and a
        // child inherits that: .NET then keeps SIGINT ignored, as Unix programs do under nohup. The interrupt tests
        // reset it for the app alone (coreutils' env --default-signal), so they measure the app, not how the suite
        // was started.
        bool resetInterrupt = interruptWhen is not null && OperatingSystem.IsLinux() && File.Exists("/usr/bin/env");
        var start = new ProcessStartInfo(resetInterrupt ? "/usr/bin/env" : "dotnet")
        {
            WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true,
        };
        foreach (var (name, value) in environment ?? []) start.Environment[name] = value;
        if (resetInterrupt)
            foreach (var a in new[] { "--default-signal=INT", "dotnet" }) start.ArgumentList.Add(a);
        start.ArgumentList.Add(app);
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var output = new System.Text.StringBuilder();
        var error = new System.Text.StringBuilder();
        var clock = Stopwatch.StartNew();
        var interruptedAt = TimeSpan.Zero;
        void Line(System.Text.StringBuilder into, string? line)
        {
            if (line is null) return;
            lock (into) into.AppendLine(line);
            if (interruptWhen is not null && line.Contains(interruptWhen) && interruptedAt == TimeSpan.Zero)
            {
                interruptedAt = clock.Elapsed;
                using var kill = Process.Start("kill", ["-INT", process.Id.ToString()]);
                kill.WaitForExit();
            }
        }
        process.OutputDataReceived += (_, e) => Line(output, e.Data);
        process.ErrorDataReceived += (_, e) => Line(error, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(timeout ?? TimeSpan.FromMinutes(3)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"'{string.Join(' ', args)}' did not finish; output so far:\n{output}\n{error}");
        }
        process.WaitForExit();
        return new Run(process.ExitCode, output.ToString(), error.ToString(), interruptWhen is null ? clock.Elapsed : clock.Elapsed - interruptedAt);
    }

    private string SavedModel()
    {
        string path = Path.Combine(folder, "saved", "model.zip");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        models.Context.Model.Save(models.Model, models.Train.Schema, path);
        return path;
    }

    public static TheoryData<string, int, string> Mistakes => new()
    {
        // Form: caught before any work.
        { "--preset huge", 2, "--preset must be one of quick, default, full, smoke, got 'huge'" },
        { "--seed abc", 2, "--seed must be a whole number, got 'abc'" },
        // Text where a number goes: one line naming the option (it was an unhandled exception, exit 134).
        { "generate --model m.zip --count abc", 2, "--count must be a whole number between 1 and 1000000, got 'abc'" },
        { "toy --rows abc", 2, "--rows must be a whole number between 100 and 10000000, got 'abc'" },
        { "generate --model m.zip --steps x", 2, "--steps must be a whole number of at least 1, got 'x'" },
        { "generate --model m.zip --guidance strong", 2, "--guidance must be a number between 0 and 100, got 'strong'" },
        { "vae-variants --classifier c.zip --variants vq", 2, "--variants must be names from plain, residual" },
        { "frobnicate", 2, "frobnicate" },
        { "generate", 2, "--model" },
        { "generate --model m.zip --count 0", 2, "--count must be between 1 and 1000000, got 0" },
        { "generate --model m.zip --steps 0", 2, "--steps must be at least 1, got 0" },
        { "generate --model m.zip --guidance -1", 2, "--guidance must be a number between 0 and 100, got -1" },
        { "generate --model m.zip --guidance-band 0.8,0.2", 2, "--guidance-band must satisfy 0 <= LOW <= HIGH <= 1; got '0.8,0.2'" },
        { "generate --model m.zip --autoguidance-band half", 2, "--autoguidance-band must be LOW,HIGH" },
        { "generate --model m.zip --sampler euler", 2, "--sampler must be one of ddim, ddpm, dpmsolverplusplus2m, unipc, heun, ipndm, got 'euler'" },
        { "generate --model m.zip --precision half", 2, "--precision must be one of float32, bfloat16, got 'half'" },
        { "evaluate", 2, "evaluate needs --folder or --model (or --merge, or --reference-stats-out alone)" },
        { "evaluate --model m.zip --shard 2/8", 2, "a shard's result is its statistics: give --stats-out" },
        { "evaluate --merge a.stats --model m.zip", 2, "--merge scores statistics files alone" },
        { "evaluate --model m.zip --labels-file l.csv", 2, "--labels-file goes with --folder" },
        { "evaluate --model m.zip --reference-count 1", 2, "--reference-count must be between 2 and 10000, got 1" },
        { "bench --model m.zip --memory-images -5", 2, "--memory-images must be between 0 and 10000000, got -5" },
        { "toy --epochs 0", 2, "--epochs must be between 1 and 10000, got 0" },
        { "compare --budgets 5,x", 2, "--budgets must be minutes above 0" },
        { "--device tpu", 2, "--device must be one of cpu, cuda, auto, got 'tpu'" },
        // The world: checked before any long work, nothing created.
        { "generate --model missing.zip", 2, "--model 'missing.zip': no such file" },
        { "bench --model missing.zip", 2, "--model 'missing.zip': no such file" },
        { "evaluate --model MODEL --classifier missing-classifier.zip", 2, "--classifier 'missing-classifier.zip': no such file" },
        { "generate --model MODEL --shard 8/8", 2, "--shard: the shard index must be in 0..7 for 8 shards, got 8" },
        { "generate --model MODEL --shard two/8", 2, "--shard must be INDEX/COUNT with whole numbers (shard 3 of 8 is 2/8), got 'two/8'" },
        { "generate --model MODEL --shard-count 3", 2, "--shard-count 3 needs --shard-index, or JOB_COMPLETION_INDEX in the environment" },
        { "evaluate --merge missing.stats --reference r.stats", 2, "--merge 'missing.stats': no such file" },
        { "evaluate --merge MODEL", 2, "--merge needs --reference" },
        { "evaluate --folder no-such-folder --classifier CLASSIFIER", 2, "--folder 'no-such-folder': no such folder" },
        { "generate --model . ", 2, "--model '.' is a folder" },
        { "generate --model MODEL --png /proc/forbidden/out.png", 2, "--png '/proc/forbidden/out.png' cannot be written" },
        { "generate --model MODEL --labels 3,12", 2, "--labels '3,12': each label must be a whole number in 0..9" },
        { "generate --model MODEL --steps 5000", 2, "got 5000" },
        // Issue 32: a file where a folder of the path should be passed the check, and the option lost its first dash.
        { "colour --out FILE/sub", 2, "--out 'a-file/sub' cannot be written" },
        { "generate --model MODEL --png FILE/out.png", 2, "--png 'a-file/out.png' cannot be written: " },
        { "evaluate --model MODEL --classifier CLASSIFIER --json FILE/out.json", 2, "--json 'a-file/out.json' cannot be written" },
        { "generate --model MODEL --autoguidance 2", 2, "autoguidance" },
        // Issue 42: "Failed to open a zip archive (...)" named no file, and left an empty ml_dotnet_* folder in the temporary folder.
        { "generate --model NOTAZIP", 2, "--model 'not-a-model.zip' is not a model file: it is not a readable zip archive" },
        { "generate --model EMPTY", 2, "--model 'empty.zip' is not a model file: it is not a readable zip archive" },
        // Issue 42: --json was ignored without a word when a shard writes statistics.
        { "evaluate --model m.zip --shard 0/2 --stats-out s.stats --json out.json", 2, "a shard writes statistics, not scores" },
        // Issue 32: a damaged saved chain printed "unexpected TargetInvocationException".
        { "generate --model DAMAGED", 1, "'Denoiser.weights' entry" },
        { "--out /proc/forbidden --preset smoke", 2, "--out '/proc/forbidden' cannot be written" },
        { "--out FILE --preset smoke", 2, "--out 'a-file' is a file" },
        { "--preset smoke --resume", 2, "--resume: " },
        { "export --model missing.zip", 2, "--model 'missing.zip': no such file" },
        { "export --model NOTAZIP --out onnx", 2, "--model 'not-a-model.zip' is not a model file" },
        { "export --model MODEL --out FILE", 2, "--out 'a-file' is a file" },
        { "--preset smoke --device cuda", 1, "CUDA" },
    };

    [Theory]
    [MemberData(nameof(Mistakes))]
    public void Each_mistake_gives_one_line_a_nonzero_exit_code_no_stack_trace_and_creates_nothing(string arguments, int exitCode, string expected)
    {
        string work = Directory.CreateDirectory(Path.Combine(folder, "work")).FullName;
        var args = arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(a => a switch
        {
            "MODEL" or "CLASSIFIER" => SavedModelRelativeTo(work),
            "NOTAZIP" => Write(work, "not-a-model.zip", "hello"),
            "EMPTY" => Write(work, "empty.zip", ""),
            "DAMAGED" => Damaged(work),
            "FILE" => Write(work, "a-file", "x"),
            _ when a.StartsWith("FILE/", StringComparison.Ordinal) => Path.Combine(Path.GetFileName(Write(work, "a-file", "x")), a["FILE/".Length..]),
            _ => a,
        }).ToArray();
        var before = Directory.GetFileSystemEntries(work).ToHashSet();

        // Its own temporary folder: nothing may be left in it.
        string temporary = Directory.CreateDirectory(Path.Combine(folder, "tmp")).FullName;
        var run = App(work, args, environment: new() { ["TMPDIR"] = temporary });

        Assert.Empty(Directory.GetFileSystemEntries(temporary));
        Assert.Equal(exitCode, run.ExitCode);
        var lines = run.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"stderr has {lines.Length} lines:\n{run.Error}");
        Assert.StartsWith("error: ", lines[0]);
        Assert.Contains(expected, lines[0], StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("   at ", run.Out + run.Error);
        Assert.Equal(before, Directory.GetFileSystemEntries(work).ToHashSet());
    }

    private string SavedModelRelativeTo(string work)
    {
        string saved = Path.Combine(folder, "saved", "model.zip");
        if (!File.Exists(saved)) SavedModel();
        return Path.GetRelativePath(work, saved);
    }

    /// <summary>A copy of the saved chain in <paramref name="work"/> with one byte of its first denoiser's weights flipped.</summary>
    private string Damaged(string work)
    {
        string path = Path.Combine(work, "damaged.zip");
        File.Copy(Path.Combine(work, SavedModelRelativeTo(work)), path);
        using var archive = System.IO.Compression.ZipFile.Open(path, System.IO.Compression.ZipArchiveMode.Update);
        var entry = archive.Entries.First(e => e.FullName.EndsWith("Denoiser.weights"));
        byte[] content;
        using (var s = entry.Open()) { using var m = new MemoryStream(); s.CopyTo(m); content = m.ToArray(); }
        string name = entry.FullName;
        entry.Delete();
        content[content.Length / 2] ^= 0xFF;
        using (var w = archive.CreateEntry(name).Open()) w.Write(content);
        return "damaged.zip";
    }

    private static string Write(string work, string name, string text)
    {
        File.WriteAllText(Path.Combine(work, name), text);
        return name;
    }

    [Fact]
    public void Verbose_adds_the_stack_trace_to_the_one_line()
    {
        string work = Directory.CreateDirectory(Path.Combine(folder, "verbose")).FullName;
        var run = App(work, ["generate", "--model", Damaged(work), "--verbose"]);
        Assert.Equal(1, run.ExitCode);
        Assert.StartsWith("error: ", run.Error);
        Assert.Contains("   at ", run.Error);
    }

    [Fact]
    public void Generate_with_relative_paths_writes_its_picture_and_raw_floats()
    {
        string work = Directory.CreateDirectory(Path.Combine(folder, "generate")).FullName;
        var run = App(work, ["generate", "--model", SavedModelRelativeTo(work), "--count", "12", "--png", "out/digits.png", "--raw", "out/digits.f32"]);
        Assert.True(run.ExitCode == 0, run.Error);
        Assert.True(new FileInfo(Path.Combine(work, "out", "digits.png")).Length > 0);
        Assert.Equal(12 * 784 * sizeof(float), new FileInfo(Path.Combine(work, "out", "digits.f32")).Length);
    }

    [Fact]
    public void Export_writes_the_networks_and_their_description_to_a_relative_folder()
    {
        string work = Directory.CreateDirectory(Path.Combine(folder, "export")).FullName;
        var run = App(work, ["export", "--model", SavedModelRelativeTo(work), "--out", "onnx"]);
        Assert.True(run.ExitCode == 0, run.Error);
        foreach (var file in new[] { "denoiser.onnx", "decoder.onnx", "latent-diffusion.json" })
        {
            Assert.True(new FileInfo(Path.Combine(work, "onnx", file)).Length > 0, file);
            Assert.Contains(Path.Combine("onnx", file), run.Out);
        }
        using var session = new Microsoft.ML.OnnxRuntime.InferenceSession(Path.Combine(work, "onnx", "denoiser.onnx"));
        Assert.Equal(["x", "t", "labels"], session.InputMetadata.Keys);
    }

    [Fact]
    public void Evaluate_scores_a_relative_folder_with_labels_from_sub_folders_and_from_a_labels_file()
    {
        string work = Directory.CreateDirectory(Path.Combine(folder, "evaluate")).FullName;
        var ml = models.Context;
        // 3 epochs of 32-image batches (about 100 steps): the default network's batch statistics need that many to settle.
        var classifier = ml.Transforms.FidEvaluator(new LatentDiffusion.MLNet.Evaluation.FidEvaluatorOptions { Epochs = 3, BatchSize = 32 }).Fit(models.Train);
        ml.Model.Save(classifier, models.Train.Schema, Path.Combine(work, "classifier.zip"));
        var digits = ml.Data.CreateEnumerable<ImageRow>(models.Test, reuseRowObject: false).Take(60).ToArray();
        var lines = new List<string>();
        for (int i = 0; i < digits.Length; i++)
        {
            using var image = LatentDiffusion.MLNet.MLImages.FromPixels(digits[i].Image, 1, 28, 28);
            string bySubFolder = Path.Combine(work, "by-folder", digits[i].Label.ToString(), $"{i}.png");
            Directory.CreateDirectory(Path.GetDirectoryName(bySubFolder)!);
            image.Save(bySubFolder);
            Directory.CreateDirectory(Path.Combine(work, "flat"));
            image.Save(Path.Combine(work, "flat", $"{i}.png"));
            lines.Add($"{i}.png,{digits[i].Label}");
        }
        File.WriteAllLines(Path.Combine(work, "labels.csv"), lines);

        var bySubFolders = App(work, ["evaluate", "--folder", "by-folder", "--classifier", "classifier.zip", "--reference-count", "300", "--json", "a.json"]);
        var byFile = App(work, ["evaluate", "--folder", "flat/", "--labels-file", "labels.csv", "--classifier", "classifier.zip", "--reference-count", "300", "--json", "b.json"]);

        foreach (var (run, json) in new[] { (bySubFolders, "a.json"), (byFile, "b.json") })
        {
            Assert.True(run.ExitCode == 0, run.Error);
            Assert.Contains("warning: only 60 evaluated images", run.Error);
            var result = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(work, json)))!;
            Assert.Equal(60, result["evaluatedImages"]!.GetValue<int>());
            Assert.Equal(300, result["referenceImages"]!.GetValue<int>());
            Assert.InRange(result["accuracy"]!.GetValue<double>(), 0.5, 1);   // real digits, a classifier trained briefly
            Assert.Contains("FID", run.Out);
        }
        // The same 60 images with the same labels, read in another order: the same scores up to rounding.
        var (a, b) = (System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(work, "a.json")))!, System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(work, "b.json")))!);
        Assert.Equal(a["fid"]!.GetValue<double>(), b["fid"]!.GetValue<double>(), 1e-6);
        Assert.Equal(a["accuracy"]!.GetValue<double>(), b["accuracy"]!.GetValue<double>());
    }

    [Fact]
    public void Ctrl_c_stops_generate_within_seconds_and_writes_no_picture()
    {
        string work = Directory.CreateDirectory(Path.Combine(folder, "interrupt-generate")).FullName;
        var run = App(work, ["generate", "--model", SavedModelRelativeTo(work), "--count", "1000000", "--png", "never.png"], interruptWhen: "generating:");
        Assert.Equal(Cli.Stopped, run.ExitCode);
        Assert.InRange(run.Elapsed.TotalSeconds, 0, 15);
        Assert.Contains("Stopped", run.Error);
        Assert.False(File.Exists(Path.Combine(work, "never.png")));
    }

    [Fact]
    public void Ctrl_c_stops_training_within_seconds_says_where_the_checkpoint_is_and_leaves_no_partial_file()
    {
        string work = Directory.CreateDirectory(Path.Combine(folder, "interrupt-train")).FullName;
        var run = App(work, ["--preset", "smoke", "--out", "run"], interruptWhen: "vae epoch", timeout: TimeSpan.FromMinutes(5));
        Assert.Equal(Cli.Stopped, run.ExitCode);
        Assert.InRange(run.Elapsed.TotalSeconds, 0, 15);
        Assert.Contains("--resume", run.Error);
        var files = Directory.GetFiles(Path.Combine(work, "run"), "*", SearchOption.AllDirectories);
        Assert.Contains(files, f => f.Contains("checkpoints"));
        Assert.DoesNotContain(files, f => f.EndsWith(".tmp") || Path.GetFileName(f).StartsWith('.'));
    }

    [Fact]
    public void The_readme_lists_every_command_and_option_the_app_takes()
    {
        string readme = File.ReadAllText(Path.Combine(RepositoryRoot(), "README.md"));
        const string begin = "<!-- commands:begin -->", end = "<!-- commands:end -->";
        int from = readme.IndexOf(begin, StringComparison.Ordinal), to = readme.IndexOf(end, StringComparison.Ordinal);
        Assert.True(from >= 0 && to > from, "README.md lacks the commands table markers");
        string table = readme[(from + begin.Length)..to].Trim();
        Assert.Equal(Cli.Markdown(Cli.Build()).Trim(), table.Replace("\r", ""));
    }

    internal static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "LatentDiffusion.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new DirectoryNotFoundException("LatentDiffusion.sln not found above the test folder.");
    }
}
