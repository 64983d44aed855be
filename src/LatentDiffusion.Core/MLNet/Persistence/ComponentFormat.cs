
namespace LatentDiffusion.MLNet.Persistence;

/// <summary>How one of our transformers appears in an ML.NET model zip.</summary>
/// <param name="LoaderSignature">The name ML.NET looks the loader up by (at most 24 characters: a fixed field of its header).</param>
/// <param name="ModelSignature">Exactly 8 ASCII characters identifying the component's entry.</param>
/// <param name="Version">Current format version; loading a newer one fails clearly.</param>
/// <param name="Loader">The transformer type with a static <c>Create(IHostEnvironment, object)</c>.</param>
/// <param name="OldestReadable">Oldest format version this library still reads.</param>
/// <param name="FirstJsonVersion">The first version written as a JSON settings block plus weight streams; older ones
/// are read by <c>LegacyFormats</c>.</param>
public sealed record ComponentFormat(string LoaderSignature, string ModelSignature, uint Version, Type Loader, uint OldestReadable, uint FirstJsonVersion);
