using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Nodes;

// Load figures for the served generator: starts examples/DigitServer on a model (a model.zip for TorchSharp, an exported
// folder for ONNX Runtime) as its own process, then, as clients do, sends 16-image requests (each with its own seed) at
// 1, 8 and 32 concurrent clients, and 10,000 one-image requests at 32 clients with the server's resident memory read
// before and after (one image each so that the soak counts requests, not sampling time). Usage:
// dotnet run -c Release --project examples/ServeBench -- <model.zip or onnx folder> [requests per level] [out.json]
if (args.Length < 1)
{
    Console.Error.WriteLine("usage: ServeBench <model.zip | exported onnx folder> [requests per level, default 256] [report.json]");
    return 2;
}
string model = Path.GetFullPath(args[0]);
int perLevel = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 256;
string? reportPath = args.Length > 2 ? args[2] : null;
const int Images = 16, SoakImages = 1, SoakRequests = 10_000, SoakClients = 32;

int port = FreePort();
string server = Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", "DigitServer", "bin", "Release", "net10.0", "DigitServer.dll");
if (!File.Exists(server)) server = Path.Combine(AppContext.BaseDirectory, "DigitServer.dll");
using var process = Process.Start(new ProcessStartInfo("dotnet", [Path.GetFullPath(server), "--Generator:Path", model, "--urls", $"http://127.0.0.1:{port}",
    "--Logging:LogLevel:Default", "Warning"]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
process.OutputDataReceived += (_, _) => { };
process.BeginOutputReadLine();
process.BeginErrorReadLine();
using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromMinutes(10) };
try
{
    var health = await WaitForHealth(http, process);
    string engine = health.GetProperty("engine").GetString()!;
    Console.WriteLine($"DigitServer pid {process.Id} on port {port}, engine {engine}, model {model}");
    await Run(http, 1, 8, 0, Images);   // warm-up: the first passes allocate
    var levels = new JsonArray();
    foreach (int clients in new[] { 1, 8, 32 })
    {
        var level = await Run(http, clients, perLevel, 1_000_000, Images);
        levels.Add(level);
        Console.WriteLine($"{clients,2} clients: {level["requestsPerSecond"]} requests/s ({level["imagesPerSecond"]} images/s), "
            + $"p50 {level["p50Ms"]} ms, p99 {level["p99Ms"]} ms");
    }
    long before = ResidentBytes(process.Id);
    var soak = await Run(http, SoakClients, SoakRequests, 2_000_000, SoakImages);
    long after = ResidentBytes(process.Id);
    Console.WriteLine($"{SoakRequests:N0} requests at {SoakClients} clients: {soak["requestsPerSecond"]} requests/s; server resident memory "
        + $"{before / 1048576.0:F0} MB before, {after / 1048576.0:F0} MB after");
    var report = new JsonObject
    {
        ["engine"] = engine, ["model"] = model, ["imagesPerRequest"] = Images, ["requestsPerLevel"] = perLevel, ["levels"] = levels,
        ["soak"] = new JsonObject
        {
            ["requests"] = SoakRequests, ["imagesPerRequest"] = SoakImages, ["clients"] = SoakClients, ["result"] = soak,
            ["residentMbBefore"] = before / 1048576.0, ["residentMbAfter"] = after / 1048576.0,
        },
        ["processorCount"] = Environment.ProcessorCount, ["cpu"] = CpuName(),
    };
    if (reportPath is not null) File.WriteAllText(reportPath, report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    return 0;
}
finally
{
    process.Kill(entireProcessTree: true);
}

// Requests with distinct seeds (from firstSeed), `clients` at a time; latency of each, wall time of all.
static async Task<JsonObject> Run(HttpClient http, int clients, int requests, long firstSeed, int images)
{
    var latencies = new double[requests];
    int next = -1;
    var clock = Stopwatch.StartNew();
    await Task.WhenAll(Enumerable.Range(0, clients).Select(async _ =>
    {
        for (int i; (i = Interlocked.Increment(ref next)) < requests;)
        {
            var one = Stopwatch.StartNew();
            using var response = await http.GetAsync($"api/generate?label={i % 10}&count={images}&seed={firstSeed + (long)i * images}");
            await response.Content.ReadAsByteArrayAsync();
            response.EnsureSuccessStatusCode();
            latencies[i] = one.Elapsed.TotalMilliseconds;
        }
    }));
    double seconds = clock.Elapsed.TotalSeconds;
    Array.Sort(latencies);
    double Percentile(double p) => Math.Round(latencies[Math.Min(requests - 1, (int)Math.Ceiling(p * requests) - 1)], 1);
    return new JsonObject
    {
        ["clients"] = clients, ["requests"] = requests, ["seconds"] = Math.Round(seconds, 2), ["requestsPerSecond"] = Math.Round(requests / seconds, 2),
        ["imagesPerSecond"] = Math.Round(requests * images / seconds, 1), ["p50Ms"] = Percentile(0.50), ["p99Ms"] = Percentile(0.99),
    };
}

static async Task<JsonElement> WaitForHealth(HttpClient http, Process process)
{
    for (var clock = Stopwatch.StartNew(); clock.Elapsed < TimeSpan.FromMinutes(2); await Task.Delay(250))
    {
        if (process.HasExited) throw new InvalidOperationException($"DigitServer exited with code {process.ExitCode} before answering.");
        try { return JsonDocument.Parse(await http.GetStringAsync("health")).RootElement.Clone(); }
        catch (HttpRequestException) { }
    }
    throw new TimeoutException("DigitServer did not answer /health within 2 minutes.");
}

static long ResidentBytes(int pid) => long.Parse(File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal))
    .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;

static string CpuName() =>
    File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':')[1].Trim() ?? "";

static int FreePort()
{
    var listener = new TcpListener(System.Net.IPAddress.Loopback, 0);
    listener.Start();
    int port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    listener.Stop();
    return port;
}
