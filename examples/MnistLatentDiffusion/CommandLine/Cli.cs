using System.CommandLine;
using System.Text;
using LatentDiffusion.Diffusion.Samplers;
using MnistLatentDiffusion.Commands;

namespace MnistLatentDiffusion.CommandLine;

/// <summary>
/// The command line: every sub-command is a file of <see cref="MnistLatentDiffusion.Commands"/> that declares its
/// options and its work; each option checks itself before any work starts. A mistake prints one line that says what is
/// wrong and what is allowed, and exits with 2 (bad arguments) or 1 (a problem found while working); <c>--verbose</c>
/// adds the stack trace. Ctrl+C stops any sub-command within seconds (exit 130). The README's table of commands is
/// printed from these definitions (<c>help-table</c>).
/// </summary>
public static class Cli
{
    /// <summary>The ODE solvers' names (the samplers that take --spacing), lower case.</summary>
    public static IEnumerable<string> SolverNames =>
        SamplerRegistry.Names.Where(n => SamplerRegistry.Create(n) is SolverSampler).Select(n => n.ToLowerInvariant());

    public const int BadArguments = 2, Failed = 1, Stopped = 130;

    public static async Task<int> InvokeAsync(string[] args)
    {
        var root = Build();
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            // A value that does not convert gets two errors: System.CommandLine's, which names a .NET type, and ours
            // (CliOptions.TryValue), which says what the option takes. Ours is the one to show.
            var error = parse.Errors.FirstOrDefault(e => !e.Message.StartsWith("Cannot parse argument", StringComparison.Ordinal)) ?? parse.Errors[0];
            Console.Error.WriteLine($"error: {OneLine(error.Message)} Run with --help to see the options.");
            return BadArguments;
        }
        // Ctrl+C cancels the token; actions stop at their next step, write what must be written, and return.
        var configuration = new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromSeconds(60), EnableDefaultExceptionHandler = false };
        return await parse.InvokeAsync(configuration);
    }

    private static string OneLine(string text) => string.Join(" ", text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    /// <summary>Runs an action: known failures become one line on stderr and an exit code; the stack trace only with --verbose.</summary>
    internal static Func<ParseResult, CancellationToken, Task<int>> Guarded(Option<bool> verbose, Func<ParseResult, CancellationToken, Task<int>> action) =>
        async (parse, token) =>
        {
            try
            {
                return await action(parse, token);
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                Console.Error.WriteLine("Stopped by Ctrl+C; every file already written is complete.");
                return Stopped;
            }
            catch (CommandLineException e)
            {
                Console.Error.WriteLine($"error: {OneLine(e.Message)}");
                return BadArguments;
            }
            catch (Exception e) when (Expected(e))
            {
                Console.Error.WriteLine($"error: {OneLine(e.Message)}{(e.InnerException is { } inner ? $" ({OneLine(inner.Message)})" : "")}");
                if (parse.GetValue(verbose)) Console.Error.WriteLine(e);
                return Failed;
            }
            catch (Exception e)
            {
                Console.Error.WriteLine($"error: unexpected {e.GetType().Name}: "
                    + $"{OneLine(e.Message)}{(parse.GetValue(verbose) ? "" : " (--verbose shows where)")}");
                if (parse.GetValue(verbose)) Console.Error.WriteLine(e);
                return Failed;
            }
        };

    /// <summary>The failures a user's input can cause (FormatException: ML.NET's word for a model file that is not a zip at all).</summary>
    private static bool Expected(Exception e) => e is ArgumentException or InvalidDataException or IOException or UnauthorizedAccessException
        or InvalidOperationException or NotSupportedException or FormatException or TimeoutException;

    /// <summary>The root command (the main job) and every sub-command.</summary>
    public static RootCommand Build()
    {
        var common = new CommonOptions();
        var root = TrainCommand.Root(common);
        Command[] commands =
        [
            TrainCommand.Create(common), GenerateCommand.Create(common), EvaluateCommand.Create(common), BenchCommand.Create(common),
            ToyCommand.Create(common), CompareCommand.Create(common), SweepCommand.Create(common), SweepMergeCommand.Create(common),
            VaeVariantsCommand.Create(common), ColourCommand.Create(common), ExportCommand.Create(common), OnnxBenchCommand.Create(common),
            StreamBenchCommand.Create(common), RenderReportCommand.Create(common), DistillCommand.Create(common), ClusterAgreementCommand.Create(common),
        ];
        foreach (var command in commands) root.Subcommands.Add(command);
        var table = new Command("help-table", "Print the table of sub-commands and options as Markdown (the README's table).") { Hidden = true };
        table.SetAction(_ =>
        {
            Console.Write(Markdown(root));
            return 0;
        });
        root.Subcommands.Add(table);
        return root;
    }

    /// <summary>The README's table of commands, from the definitions.</summary>
    public static string Markdown(RootCommand root)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| command | what it does | options |");
        sb.AppendLine("| --- | --- | --- |");
        string Options(Command c) => string.Join(", ", c.Options.Where(o => !o.Hidden && o.Name is not ("--help" or "-h" or "-?" or "--version"))
            .Select(o => $"`{o.Name}`"));
        sb.AppendLine($"| (none) | {root.Description} | {Options(root)} |");
        foreach (var c in root.Subcommands.Where(c => !c.Hidden))
            sb.AppendLine($"| `{c.Name}` | {c.Description} | {Options(c)} |");
        return sb.ToString();
    }
}
