using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using OpenQA.Selenium.Support.UI;

namespace LatentDiffusion.Tests.Serving;

/// <summary>A test that needs Debian's Chromium and its ChromeDriver (installed by .ci/run); skipped, saying why, where they are missing.</summary>
public sealed class BrowserFactAttribute : FactAttribute
{
    public const string Chromium = "/usr/bin/chromium", ChromeDriver = "/usr/bin/chromedriver";

    public BrowserFactAttribute()
    {
        if (!File.Exists(Chromium) || !File.Exists(ChromeDriver))
            Skip = $"No browser on this machine: {Chromium} and {ChromeDriver} come from Debian's chromium and chromium-driver (apt-get install chromium chromium-driver).";
    }
}

/// <summary>
/// The served generator's page in a real browser: headless Chromium, driven through Selenium, against the service on
/// Kestrel. A person's steps: pick a digit, a seed, the steps and how many, press Generate, and see the images.
/// </summary>
public sealed class DigitPageBrowserTests : IDisposable
{
    private readonly string profile = Directory.CreateTempSubdirectory("ld-chromium-").FullName;

    public void Dispose() => Directory.Delete(profile, recursive: true);

    private ChromeDriver Browser()
    {
        var options = new ChromeOptions { BinaryLocation = BrowserFactAttribute.Chromium };
        // Headless, and no background connections: this machine's network is closed.
        options.AddArguments("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", $"--user-data-dir={profile}");
        var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(BrowserFactAttribute.ChromeDriver)!,
            Path.GetFileName(BrowserFactAttribute.ChromeDriver));
        service.SuppressInitialDiagnosticInformation = true;
        service.HideCommandPromptWindow = true;
        return new ChromeDriver(service, options, TimeSpan.FromMinutes(1));
    }

    private static void Type(IWebDriver driver, string id, string text)
    {
        var input = driver.FindElement(By.Id(id));
        input.Clear();
        input.SendKeys(text);
    }

    [BrowserFact]
    public async Task A_person_picks_a_digit_a_seed_and_the_steps_and_sees_the_images()
    {
        await using var factory = DigitServerTests.Factory(DigitServerTests.ModelFile);
        factory.UseKestrel(0);
        factory.StartServer();
        using var client = factory.CreateClient();

        using var driver = Browser();
        driver.Navigate().GoToUrl(client.BaseAddress!.ToString());
        var wait = new WebDriverWait(driver, TimeSpan.FromSeconds(60));
        wait.Until(d => d.FindElements(By.CssSelector("#label option")).Count == 11);
        Assert.Contains("torchsharp engine, 10 classes", driver.FindElement(By.Id("model")).Text);

        driver.FindElement(By.CssSelector("#label option[value='4']")).Click();
        Type(driver, "seed", "7");
        Type(driver, "steps", "5");
        Type(driver, "count", "6");
        driver.FindElement(By.Id("generate")).Click();

        // The images appear, decoded by the browser at the model's size.
        wait.Until(d => (bool)((IJavaScriptExecutor)d).ExecuteScript(
            "const i = [...document.querySelectorAll('img.digit')]; return i.length === 6 && i.every(x => x.complete && x.naturalWidth === 28);")!);
        var images = driver.FindElements(By.CssSelector("img.digit"));
        Assert.Equal(Enumerable.Range(7, 6).Select(s => $"digit 4, seed {s}"), images.Select(i => i.GetAttribute("alt")));
        Assert.StartsWith("6 images by UniPc in 5 steps", driver.FindElement(By.Id("status")).Text);

        // What the page shows is what the API serves for the same request.
        using var answer = System.Text.Json.JsonDocument.Parse(await client.GetStringAsync("/api/generate?label=4&seed=7&steps=5&count=6&sampler=UniPc"));
        var served = answer.RootElement.GetProperty("images").EnumerateArray().Select(i => "data:image/png;base64," + i.GetProperty("png").GetString());
        Assert.Equal(served, images.Select(i => i.GetAttribute("src")));
        Assert.EndsWith("api/grid.png?label=4&seed=7&steps=5&count=6&sampler=UniPc", driver.FindElement(By.Id("grid")).GetAttribute("href"));
    }
}
