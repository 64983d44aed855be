namespace MnistLatentDiffusion.CommandLine;

/// <summary>A mistake in the arguments found while checking them against the world (a missing file, an unwritable folder).</summary>
internal sealed class CommandLineException(string message) : Exception(message);
