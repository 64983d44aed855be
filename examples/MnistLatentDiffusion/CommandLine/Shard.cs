
namespace MnistLatentDiffusion.CommandLine;

/// <summary>
/// One of <see cref="Count"/> shards of a range of requests, as the pods of a Kubernetes Indexed Job run them: shard i
/// takes a contiguous block of whole sampling batches, so that every image is generated in the same batch as in a
/// single run (and so is bit-identical to it on the same machine) and the shards together cover every request once.
/// </summary>
internal readonly record struct Shard(int Index, int Count)
{
    /// <summary>The environment variable a Kubernetes Indexed Job sets in each pod: its completion index.</summary>
    public const string IndexVariable = "JOB_COMPLETION_INDEX";

    /// <summary>Every request in one process.</summary>
    public static Shard Whole => new(0, 1);

    public bool IsWhole => Count == 1;

    /// <summary>
    /// The shard a command line asks for: <c>--shard i/N</c>, or <c>--shard-index</c> and <c>--shard-count</c>, the
    /// index read from <see cref="IndexVariable"/> when only the count is given.
    /// </summary>
    public static Shard From(string? shard, int? index, int? count, Func<string, string?> environment)
    {
        if (shard is not null)
        {
            if (index is not null || count is not null) throw new CommandLineException("--shard goes alone; or give --shard-index and --shard-count instead.");
            var parts = shard.Split('/');
            if (parts.Length != 2 || !int.TryParse(parts[0], out int i) || !int.TryParse(parts[1], out int n))
                throw new CommandLineException($"--shard must be INDEX/COUNT with whole numbers (shard 3 of 8 is 2/8), got '{shard}'.");
            return Checked(i, n, "--shard");
        }
        if (count is null)
        {
            if (index is not null) throw new CommandLineException("--shard-index needs --shard-count, the number of shards.");
            return Whole;
        }
        if (index is null)
        {
            string? text = environment(IndexVariable);
            if (text is null)
                throw new CommandLineException($"--shard-count {count} needs --shard-index, or {IndexVariable} in the environment (a Kubernetes Indexed Job "
                    + $"sets it).");
            if (!int.TryParse(text, out int fromEnvironment))
                throw new CommandLineException($"{IndexVariable} must be a whole number (the pod's completion index), got '{text}'.");
            return Checked(fromEnvironment, count.Value, IndexVariable);
        }
        return Checked(index.Value, count.Value, "--shard-index");
    }

    private static Shard Checked(int index, int count, string source)
    {
        if (count is < 1 or > 100_000) throw new CommandLineException($"The shard count must be between 1 and 100000, got {count}.");
        if (index < 0 || index >= count) throw new CommandLineException($"{source}: the shard index must be in 0..{count - 1} for {count} shards, got "
            + $"{index}.");
        return new Shard(index, count);
    }

    /// <summary>The requests [Start, End) of this shard out of <paramref name="total"/>, in whole batches of <paramref name="batch"/>.</summary>
    public (int Start, int End) Range(int total, int batch)
    {
        long batches = (total + (long)batch - 1) / batch;
        long first = batches * Index / Count, last = batches * (Index + 1) / Count;
        return ((int)Math.Min(total, first * batch), (int)Math.Min(total, last * batch));
    }

    /// <summary>A file name with "{index}" replaced by this shard's index (one file per pod on a shared volume).</summary>
    public string Name(string pattern) => pattern.Replace("{index}", Index.ToString(System.Globalization.CultureInfo.InvariantCulture));

    public override string ToString() => $"shard {Index}/{Count}";
}
