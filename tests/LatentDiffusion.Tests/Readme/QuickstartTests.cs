namespace LatentDiffusion.Tests.Readme;

public class QuickstartTests
{
    private static string RepositoryFile(string name)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "LatentDiffusion.sln"))) return Path.Combine(dir.FullName, name);
        throw new FileNotFoundException("Repository root not found above " + AppContext.BaseDirectory);
    }

    private static string[] Block(IEnumerable<string> lines, string begin, string end) =>
        lines.SkipWhile(l => !l.Contains(begin)).Skip(1).TakeWhile(l => !l.Contains(end)).Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();

    [Fact]
    public void The_readme_quickstart_is_the_compiled_one()
    {
        var compiled = Block(File.ReadLines(RepositoryFile("tests/LatentDiffusion.Tests/Readme/Quickstart.cs")), "// README:begin", "// README:end");
        var readme = Block(File.ReadLines(RepositoryFile("README.md")), "```csharp", "```");
        Assert.NotEmpty(compiled);
        Assert.Equal(compiled, readme);
    }
}
