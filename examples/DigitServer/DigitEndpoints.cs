using System.Diagnostics;
using System.Reflection;
using LatentDiffusion.Diffusion.Samplers;
using LatentDiffusion.Onnx;

namespace DigitServer;

/// <summary>
/// The service's routes: the page (<c>/</c>), <c>/health</c>, <c>/api/info</c>, <c>/api/generate</c> (JSON with each
/// image as a PNG) and <c>/api/grid.png</c> (one PNG of the images side by side). Bad input is a 400 whose body is one
/// sentence (<c>{"error": ...}</c>); a client that leaves cancels its request.
/// </summary>
public static class DigitEndpoints
{
    /// <summary>Pixels between the images of a grid.</summary>
    private const int Gap = 2;

    public static void Map(WebApplication app)
    {
        string page = Page();
        app.MapGet("/", () => Results.Content(page, "text/html; charset=utf-8"));
        app.MapGet("/health", (IDigitEngine engine, GenerationQueue queue) =>
        {
            var (requests, batches, images) = queue.Counts;
            return Results.Json(new { status = "ok", engine = engine.Name, requests, batches, images });
        });
        app.MapGet("/api/info", (IDigitEngine engine) => Results.Json(new
        {
            engine = engine.Name, classes = engine.Classes, imageShape = engine.ImageShape, sampler = engine.Sampling.Sampler.Name,
            steps = engine.Sampling.Sampler.Steps, samplers = SamplerRegistry.Names, maxCount = DigitQuery.MaxCount, maxSteps = DigitQuery.MaxSteps,
        }));
        app.MapGet("/api/generate", async (HttpContext http, IDigitEngine engine, GenerationQueue queue) =>
        {
            var (query, error) = DigitQuery.Parse(http.Request.Query, engine);
            if (query is null) return Results.BadRequest(new { error });
            var clock = Stopwatch.StartNew();
            float[] pixels = await queue.GenerateAsync(query.Labels, query.Seeds, query.Sampling, http.RequestAborted);
            int size = pixels.Length / query.Count;
            return Results.Json(new
            {
                engine = engine.Name, label = query.Label, count = query.Count, seed = query.Seed, sampler = query.Sampling.Sampler.Name,
                steps = query.Sampling.Sampler.Steps, imageShape = engine.ImageShape, milliseconds = Math.Round(clock.Elapsed.TotalMilliseconds, 1),
                images = query.Seeds.Select((seed, i) => new
                {
                    index = i, label = query.Label, seed, png = Convert.ToBase64String(PngFile.Encode(pixels.AsSpan(i * size, size), engine.ImageShape)),
                }),
            });
        });
        app.MapGet("/api/grid.png", async (HttpContext http, IDigitEngine engine, GenerationQueue queue) =>
        {
            var (query, error) = DigitQuery.Parse(http.Request.Query, engine);
            if (query is null) return Results.BadRequest(new { error });
            float[] pixels = await queue.GenerateAsync(query.Labels, query.Seeds, query.Sampling, http.RequestAborted);
            var (grid, shape) = Grid(pixels, query.Count, engine.ImageShape);
            return Results.File(PngFile.Encode(grid, shape), "image/png");
        });
    }

    /// <summary>The images in rows of ceil(sqrt(count)), <see cref="Gap"/> pixels apart on black.</summary>
    internal static (float[] Pixels, int[] Shape) Grid(float[] images, int count, IReadOnlyList<int> shape)
    {
        int channels = shape[0], height = shape[1], width = shape[2], columns = (int)Math.Ceiling(Math.Sqrt(count));
        int rows = (count + columns - 1) / columns, gridHeight = rows * height + (rows - 1) * Gap, gridWidth = columns * width + (columns - 1) * Gap;
        var grid = new float[channels * gridHeight * gridWidth];
        for (int i = 0; i < count; i++)
        {
            int top = i / columns * (height + Gap), left = i % columns * (width + Gap);
            for (int c = 0; c < channels; c++)
                for (int y = 0; y < height; y++)
                    images.AsSpan(((i * channels + c) * height + y) * width, width).CopyTo(grid.AsSpan((c * gridHeight + top + y) * gridWidth + left, width));
        }
        return (grid, [channels, gridHeight, gridWidth]);
    }

    private static string Page()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("index.html")!;
        return new StreamReader(stream).ReadToEnd();
    }
}
