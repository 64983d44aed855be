using LatentDiffusion.Runtime;
using LatentDiffusion.Training;
using Microsoft.Extensions.Logging;
using Microsoft.ML;

namespace LatentDiffusion.MLNet.Estimators;

/// <summary>What every trainable component's options share: optimisation, seed, device, logging, progress, cancellation.</summary>
public abstract class TrainingOptions
{
    /// <summary>Minibatch size. Default 128.</summary>
    public int BatchSize { get; set; } = 128;
    /// <summary>Peak AdamW learning rate (linear warm-up, then cosine decay). Default 2e-3.</summary>
    public double LearningRate { get; set; } = 2e-3;
    /// <summary>
    /// Seed for initialisation, shuffling and noise; the same seed gives the same model, bit for bit, on the same
    /// machine with the same thread count and precision (also across a checkpoint and resume). On another CPU the
    /// weights drift apart in their last bits from the first steps, so a run there gives a model of the same quality
    /// rather than the same weights. Default 1.
    /// </summary>
    public int Seed { get; set; } = 1;
    /// <summary>
    /// Number format of training: float32, or bfloat16 mixed precision (bfloat16 forward and backward passes, float32
    /// master weights; the trained model is float32 either way). Default float32.
    /// </summary>
    public TrainingPrecision Precision { get; set; } = TrainingPrecision.Float32;
    /// <summary>Where to compute. Default CPU.</summary>
    public ComputeDevice Device { get; set; } = ComputeDevice.Cpu;
    /// <summary>Receives progress and per-epoch losses (MLContext.Log receives them too).</summary>
    public ILogger? Logger { get; set; }
    /// <summary>Receives a report after each optimiser step (for progress bars).</summary>
    public IProgress<TrainingProgress>? Progress { get; set; }
    /// <summary>Stops training; nothing is left half-done.</summary>
    public CancellationToken CancellationToken { get; set; }
    /// <summary>
    /// A wall-clock limit for training the component's (main) network: once the first steps show the speed, the plan
    /// and its learning-rate schedule shrink to the steps that fit, and training stops when the time is up. The epochs
    /// stay an upper bound. Such a run is not reproducible (how far it gets depends on the machine). Null: no limit. Default null.
    /// </summary>
    public TimeSpan? MaxTrainingTime { get; set; }
    /// <summary>
    /// Folder where training writes checkpoints: one file per network ("vae.checkpoint", "diffusion.checkpoint",
    /// "autoguidance.checkpoint", "classifier.checkpoint"), written atomically every <see cref="CheckpointInterval"/>,
    /// when training is cancelled, and when it ends. Give each pipeline its own folder. Null: no checkpoints. Default null.
    /// </summary>
    public string? CheckpointDirectory { get; set; }
    /// <summary>Time between checkpoints while training. Default 5 minutes.</summary>
    public TimeSpan CheckpointInterval { get; set; } = TimeSpan.FromMinutes(5);
    /// <summary>
    /// Continue from the checkpoint in <see cref="CheckpointDirectory"/> when there is one: the run ends with the
    /// same weights, bit for bit, as one that never stopped (on the same machine and settings; not for runs with
    /// <see cref="MaxTrainingTime"/>). A finished checkpoint skips training. Default false.
    /// </summary>
    public bool ResumeFromCheckpoint { get; set; }

    /// <summary>
    /// Read the training rows from the input view on every epoch instead of once into memory: memory then holds a
    /// shuffle buffer of <see cref="ShuffleBufferRows"/> rows, not the data, however many rows there are. Each epoch
    /// reads the view in its order through a seeded buffer (and with <see cref="ShuffleSource"/>, in the view's own
    /// shuffled order); a run resumed from a checkpoint continues with the same rows. One pass before training counts and checks the rows.
    /// The view must give the same rows on every pass. Default false: rows are read into memory once.
    /// </summary>
    public bool StreamTrainingData { get; set; }
    /// <summary>
    /// With <see cref="StreamTrainingData"/>: also shuffle each epoch with the view's own shuffling where it supports it
    /// (<see cref="IDataView.CanShuffle"/>), as ML.NET's <c>ShuffleRows</c> does with <c>shuffleSource</c>: a uniform
    /// order beyond the buffer's reach, but ML.NET's binary loader holds much of the file to give it (a shuffled pass over
    /// a 900 MB .idv file needed more than 256 MB of managed memory, where an ordered pass needs a few MB), so memory is
    /// no longer flat in the rows. The validation rows are still left out, by their row ids. Default false.
    /// </summary>
    public bool ShuffleSource { get; set; }
    /// <summary>Rows of the shuffle buffer when <see cref="StreamTrainingData"/> is set. Default 16,384.</summary>
    public int ShuffleBufferRows { get; set; } = 16_384;
    /// <summary>
    /// With <see cref="StreamTrainingData"/>: a folder where the columns to learn from are first written once, as an
    /// ML.NET binary file ("&lt;network&gt;-data.idv", replaced atomically on every fit), that every epoch then reads. For
    /// inputs that are expensive to compute on each pass, such as latents encoded by a VAE transformer. Null: every
    /// epoch reads the input view itself. Default null.
    /// </summary>
    public string? StreamingCacheDirectory { get; set; }

    /// <summary>Checks every option on its own, naming it, what is allowed and what was given.</summary>
    internal abstract void Validate();

    /// <summary>Checks the options every component shares, one at a time; <paramref name="owner"/> names the options class in messages.</summary>
    internal void ValidateShared(string owner)
    {
        OptionChecks.InRange(BatchSize, 1, 1 << 20, nameof(BatchSize), owner);
        OptionChecks.Positive(LearningRate, nameof(LearningRate), owner);
        OptionChecks.Defined(Precision, nameof(Precision), owner);
        OptionChecks.Defined(Device, nameof(Device), owner);
        if (CheckpointInterval <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(CheckpointInterval), CheckpointInterval, $"{owner}.CheckpointInterval must be positive.");
        if (CheckpointDirectory is { } directory && string.IsNullOrWhiteSpace(directory))
            throw new ArgumentOutOfRangeException(nameof(CheckpointDirectory), directory,
                $"{owner}.CheckpointDirectory must name a folder, or be null for no checkpoints; got '{directory}'.");
        if (ResumeFromCheckpoint && CheckpointDirectory is null)
            throw new ArgumentOutOfRangeException(nameof(ResumeFromCheckpoint), ResumeFromCheckpoint,
                $"{owner}.ResumeFromCheckpoint needs {owner}.CheckpointDirectory, the folder to resume from.");
        OptionChecks.InRange(ShuffleBufferRows, 1, 1 << 24, nameof(ShuffleBufferRows), owner);
        if (ShuffleSource && !StreamTrainingData)
            throw new ArgumentOutOfRangeException(nameof(ShuffleSource), ShuffleSource,
                $"{owner}.ShuffleSource shuffles streamed data: it needs {owner}.StreamTrainingData = true.");
        if (StreamingCacheDirectory is { } cache && (string.IsNullOrWhiteSpace(cache) || !StreamTrainingData))
            throw new ArgumentOutOfRangeException(nameof(StreamingCacheDirectory), cache, string.IsNullOrWhiteSpace(cache)
                ? $"{owner}.StreamingCacheDirectory must name a folder, or be null for no cache; got '{cache}'."
                : $"{owner}.StreamingCacheDirectory caches streamed data: it needs {owner}.StreamTrainingData = true.");
        if (MaxTrainingTime is { } limit && limit <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(MaxTrainingTime), limit, $"{owner}.MaxTrainingTime must be positive, or null for no limit.");
    }

    /// <summary>
    /// The rows to train <paramref name="network"/> on: the float vectors of <paramref name="column"/> (<paramref name="size"/>
    /// values each) and, when <paramref name="labelColumn"/> is given, their labels in 0..classes-1: read into memory, or
    /// streamed from the view (or from the cache written first) as <see cref="StreamTrainingData"/> says.
    /// </summary>
    internal TrainingData ReadTrainingData(IDataView input, string column, int size, string? labelColumn, int classes,
        string network, ILogger log)
    {
        if (!StreamTrainingData)
        {
            var (values, labels, rows) = TrainingRowReader.ReadAll(input, column, size, labelColumn, classes, CancellationToken);
            return TrainingData.InMemory(values, labels, rows);
        }
        var source = input;
        if (StreamingCacheDirectory is { } folder)
        {
            var context = new MLContext(Seed);
            string path = Path.GetFullPath(Path.Combine(folder, $"{network}-data.idv"));
            Directory.CreateDirectory(folder);
            var columns = labelColumn is null ? new[] { column } : [column, labelColumn];
            var selected = context.Transforms.SelectColumns(columns).Fit(input).Transform(input);
            var clock = System.Diagnostics.Stopwatch.StartNew();
            IO.AtomicFile.Write(path, stream => context.Data.SaveAsBinary(selected, stream, keepHidden: false));
            log.LogInformation("Training data of column '{Column}' cached in '{Path}' ({Bytes:N0} bytes, {Seconds:F1} s); every epoch reads it", column, path,
                new FileInfo(path).Length, clock.Elapsed.TotalSeconds);
            source = context.Data.LoadFromBinary(path);
        }
        bool shuffleSource = ShuffleSource && source.CanShuffle;
        if (ShuffleSource && !source.CanShuffle)
            log.LogWarning("ShuffleSource: the view of column '{Column}' cannot shuffle itself; epochs are shuffled by the buffer alone", column);
        var data = new DataViewTrainingData(source, column, size, labelColumn, classes, ShuffleBufferRows, shuffleSource, CancellationToken);
        log.LogInformation("Streaming {Rows} rows of column '{Column}' through a shuffle buffer of {Buffer} rows{Shuffle}", data.Rows, column,
            ShuffleBufferRows, shuffleSource ? " after the view's own shuffling" : "");
        return data;
    }

    /// <summary>The engine's view of these options, on the resolved device, reporting to <paramref name="log"/>.</summary>
    internal TrainingRun Run(ILogger log) => new()
    {
        BatchSize = BatchSize, LearningRate = LearningRate, Seed = Seed, Precision = Precision, Device = DeviceSelector.Resolve(Device),
        Logger = log, Progress = Progress, CancellationToken = CancellationToken, TimeBudget = MaxTrainingTime,
        CheckpointDirectory = CheckpointDirectory, CheckpointInterval = CheckpointInterval, ResumeFromCheckpoint = ResumeFromCheckpoint,
    };
}
