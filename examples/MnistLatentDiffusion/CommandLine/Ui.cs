using LatentDiffusion.Training;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace MnistLatentDiffusion.CommandLine;

/// <summary>Progress of a stage that is not training (generating, scoring): done out of total, or total 0 when unknown.</summary>
public readonly record struct StageProgress(string Stage, long Done, long Total);

/// <summary>
/// What the user sees while work runs: progress bars for every training loop and every later stage in a terminal;
/// log lines otherwise (redirected output, CI, or --verbose).
/// </summary>
internal static class Ui
{
    public static async Task<T> RunAsync<T>(bool verbose, string category, Func<ILogger, IProgress<TrainingProgress>?, IProgress<StageProgress>?, Task<T>> work)
    {
        bool bars = !verbose && !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;
        using var logging = LoggerFactory.Create(b =>
        {
            b.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; });
            b.SetMinimumLevel(verbose ? LogLevel.Debug : bars ? LogLevel.Warning : LogLevel.Information);
        });
        var logger = logging.CreateLogger(category);
        if (!bars) return await work(logger, null, new LoggedStages(logger));
        return await AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .StartAsync(async ctx =>
            {
                var tasks = new Dictionary<string, ProgressTask>();
                ProgressTask Task(string name, double max) => tasks.TryGetValue(name, out var t) ? t : tasks[name] = ctx.AddTask(name, maxValue: Math.Max(max,
                    1));
                var training = new Synchronous<TrainingProgress>(p =>
                {
                    var task = Task(p.Model, p.TotalSteps);
                    task.MaxValue = Math.Max(p.TotalSteps, 1);
                    task.Value = p.Step;
                    task.Description = $"{p.Model} epoch {p.Epoch} loss {p.Loss:F4}";
                });
                var stages = new Synchronous<StageProgress>(p =>
                {
                    var task = Task(p.Stage, p.Total);
                    if (p.Total <= 0) task.IsIndeterminate = p.Done == 0;
                    else (task.MaxValue, task.Value) = (p.Total, p.Done);
                    if (p.Total <= 0 && p.Done > 0) task.Value = task.MaxValue;
                });
                return await work(logger, training, stages);
            });
    }

    /// <summary>Reports on the calling thread, at once (Progress&lt;T&gt; posts later, on the thread pool).</summary>
    private sealed class Synchronous<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }

    /// <summary>Stages as log lines: the start, every tenth of the way, the end.</summary>
    private sealed class LoggedStages(ILogger logger) : IProgress<StageProgress>
    {
        private readonly Dictionary<string, long> lastTenth = [];

        public void Report(StageProgress p)
        {
            if (p.Total <= 0)
            {
                logger.LogInformation(p.Done == 0 ? "{Stage}..." : "{Stage}: done", p.Stage);
                return;
            }
            long tenth = p.Done * 10 / p.Total;
            if (lastTenth.TryGetValue(p.Stage, out var last) && last == tenth) return;
            lastTenth[p.Stage] = tenth;
            logger.LogInformation("{Stage}: {Done:N0} of {Total:N0}", p.Stage, p.Done, p.Total);
        }
    }
}
