using System.IO.Compression;

namespace LatentDiffusion.Tests.Package;

/// <summary>
/// Each package ships its own files once and nothing a dependency brings: the exact file list of each nupkg, and a size
/// bound that a stray copy of a model file (the ResNet18 featurizer's 64 MB, which that package brings to every app
/// itself) or of a native library would break.
/// </summary>
public class PackageContentsTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("ld-pack-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private static readonly string[] Common = ["[Content_Types].xml", "_rels/.rels", "package/services/metadata/core-properties/*.psmdcp", "README.md"];

    public static TheoryData<string, string[]> Packages => new()
    {
        { "LatentDiffusion.Core", [.. Common, "LatentDiffusion.Core.nuspec", "lib/net10.0/LatentDiffusion.Core.dll", "lib/net10.0/LatentDiffusion.Core.xml"] },
        { "LatentDiffusion", [.. Common, "LatentDiffusion.nuspec", "lib/net10.0/LatentDiffusion.dll", "lib/net10.0/LatentDiffusion.xml",
            "buildTransitive/LatentDiffusion.targets", "buildTransitive/ElfVersionNeedPatcher.cs"] },
        { "LatentDiffusion.Onnx", [.. Common, "LatentDiffusion.Onnx.nuspec", "lib/net10.0/LatentDiffusion.Onnx.dll", "lib/net10.0/LatentDiffusion.Onnx.xml"] },
    };

    [Theory]
    [MemberData(nameof(Packages))]
    public void The_package_holds_exactly_its_own_files_and_stays_under_two_megabytes(string id, string[] expected)
    {
        PackageConsumerTests.Pack(folder, "0.1.0-contents", $"src/{id}");
        string nupkg = Path.Combine(folder, $"{id}.0.1.0-contents.nupkg");
        using var zip = ZipFile.OpenRead(nupkg);
        string[] names = [.. zip.Entries.Select(e => e.FullName).Select(n => n.StartsWith("package/services/metadata/core-properties/", StringComparison.Ordinal)
            && n.EndsWith(".psmdcp", StringComparison.Ordinal) ? "package/services/metadata/core-properties/*.psmdcp" : n).Order(StringComparer.Ordinal)];
        Assert.Equal(expected.Order(StringComparer.Ordinal), names);
        long bytes = new FileInfo(nupkg).Length, unpacked = zip.Entries.Sum(e => e.Length);
        Assert.True(bytes < 2_000_000 && unpacked < 4_000_000, $"{id}: {bytes:N0} bytes packed, {unpacked:N0} unpacked");
        // The ML.NET range is declared, not a pin.
        using var nuspec = new StreamReader(zip.GetEntry($"{id}.nuspec")!.Open());
        Assert.Contains("id=\"Microsoft.ML\" version=\"[5.0.1, 7.0.0)\"", nuspec.ReadToEnd());
    }
}
