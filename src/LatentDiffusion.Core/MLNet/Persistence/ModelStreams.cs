
namespace LatentDiffusion.MLNet.Persistence;

/// <summary>The streams of one component in a model file being loaded (see <c>ComponentFormats</c>).</summary>
public sealed class ModelStreams(ComponentFormat format, uint version, IReadOnlySet<string> names, Func<string, Action<BinaryReader>, bool> tryLoad)
{
    /// <summary>The entry that holds a component's JSON settings.</summary>
    public const string ConfigStream = "Config.json";

    /// <summary>The component's format.</summary>
    public ComponentFormat Format => format;

    /// <summary>The format version the file was written in.</summary>
    public uint Version => version;

    /// <summary>Whether the file was written as a JSON settings block plus weight streams (rather than a legacy version).</summary>
    public bool IsJson => version >= format.FirstJsonVersion;

    /// <summary>Whether the file holds the stream <paramref name="name"/>.</summary>
    public bool Has(string name) => names.Contains(name);

    /// <summary>Reads stream <paramref name="name"/>; a missing stream, or an error while reading it, fails naming the stream.</summary>
    public void Read(string name, Action<BinaryReader> read)
    {
        bool found;
        try
        {
            found = names.Contains(name) && tryLoad(name, read);
        }
        catch (System.Reflection.TargetInvocationException e) when (e.InnerException is not null)
        {
            throw new ModelFileException(format.Loader.Name, name,
                $"The '{name}' entry of {format.Loader.Name} is corrupt: {e.InnerException.Message}", e.InnerException);
        }
        if (!found)
            throw new ModelFileException(format.Loader.Name, name,
                $"The model file has no '{name}' entry for {format.Loader.Name}; it is incomplete or was not saved by this library.");
    }

    /// <summary>Reads stream <paramref name="name"/> when the file has it; returns whether it did.</summary>
    public bool ReadIfPresent(string name, Action<BinaryReader> read)
    {
        if (!names.Contains(name)) return false;
        Read(name, read);
        return true;
    }
}
