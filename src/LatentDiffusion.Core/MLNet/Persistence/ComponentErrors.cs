
namespace LatentDiffusion.MLNet.Persistence;

/// <summary>Turns a failure to build a model from a file's settings into an error that names the file's entry.</summary>
public static class ComponentErrors
{
    /// <param name="build">What the settings describe.</param>
    /// <param name="format">The component's format.</param>
    /// <param name="entry">The entry that holds the settings: Config.json, or Settings.bin in the formats before it.</param>
    public static T Loading<T>(Func<T> build, ComponentFormat format, string entry = ModelStreams.ConfigStream)
    {
        try
        {
            return build();
        }
        catch (ArgumentException e)
        {
            throw new ModelFileException(format.Loader.Name, entry,
                $"The '{entry}' entry of {format.Loader.Name} describes a model this library cannot build: {ErrorText.OneLine(e)}", e);
        }
    }
}
