using System.Diagnostics;
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
/// Kestrel in its own process. A person's steps: pick a digit, a seed, the steps and how many, press Generate, and see the images.
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

    /// <summary>The service as it runs in production: its own process, on Kestrel, on a free loopback port.</summary>
    private static async Task<(Process Server, HttpClient Client)> StartServer()
    {
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        int port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var server = Process.Start(new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "DigitServer.dll"),
            "--Generator:Path", DigitServerTests.ModelFile, "--urls", $"http://127.0.0.1:{port}", "--Logging:LogLevel:Default", "Warning"])
        {
            RedirectStandardOutput = true, RedirectStandardError = true,
        })!;
        var errors = new System.Text.StringBuilder();
        server.OutputDataReceived += (_, _) => { };
        server.ErrorDataReceived += (_, e) => { lock (errors) errors.AppendLine(e.Data); };
        server.BeginOutputReadLine();
        server.BeginErrorReadLine();
        var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
        for (var clock = Stopwatch.StartNew(); ; await Task.Delay(200))
        {
            Assert.False(server.HasExited, $"DigitServer exited with code {(server.HasExited ? server.ExitCode : 0)}: {errors}");
            Assert.True(clock.Elapsed < TimeSpan.FromMinutes(1), "DigitServer did not answer /health within a minute");
            try
            {
                if ((await client.GetAsync("health")).IsSuccessStatusCode) return (server, client);
            }
            catch (HttpRequestException)
            {
            }
        }
    }

    [BrowserFact]
    public async Task A_person_picks_a_digit_a_seed_and_the_steps_and_sees_the_images()
    {
        var (server, client) = await StartServer();
        using var process = server;
        using var http = client;
        try
        {
            await DriveThePage(client);
        }
        finally
        {
            server.Kill(entireProcessTree: true);
        }
    }

    private async Task DriveThePage(HttpClient client)
    {
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
