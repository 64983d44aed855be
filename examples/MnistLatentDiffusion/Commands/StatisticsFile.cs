using LatentDiffusion.Metrics;
using MnistLatentDiffusion.CommandLine;

namespace MnistLatentDiffusion.Commands;

/// <summary>FID statistics files given on the command line: a damaged or foreign file is a bad argument, named by its option.</summary>
internal static class StatisticsFile
{
    public static FidStatistics Load(string path, string option)
    {
        try
        {
            return FidStatistics.Load(path);
        }
        catch (InvalidDataException e)
        {
            throw new CommandLineException($"{option} {e.Message}");
        }
    }
}
