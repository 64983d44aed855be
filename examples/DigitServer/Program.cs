using DigitServer;

// A saved generator behind HTTP: Generator:Path names a model.zip (TorchSharp) or an exported ONNX folder (ONNX
// Runtime); Generator:Engine (torchsharp | onnx) may say which, else the path's kind decides. From appsettings.json,
// the environment (Generator__Path) or the command line (--Generator:Path model.zip).
var builder = WebApplication.CreateBuilder(args);
builder.Services.AddSingleton(services =>
{
    var configuration = services.GetRequiredService<IConfiguration>();
    string path = configuration["Generator:Path"] is { Length: > 0 } p ? p
        : throw new ArgumentException("Generator:Path is not set: give a model.zip or an exported ONNX folder (--Generator:Path model.zip).");
    return IDigitEngine.Open(path, configuration["Generator:Engine"]);
});
builder.Services.AddSingleton<GenerationQueue>();
builder.Services.AddHostedService(services => services.GetRequiredService<GenerationQueue>());

var app = builder.Build();
try
{
    var engine = app.Services.GetRequiredService<IDigitEngine>();
    app.Logger.LogInformation("Serving a {Engine} generator: {Classes} classes, images of [{Shape}], {Sampler} in {Steps} steps", engine.Name,
        engine.Classes, string.Join(", ", engine.ImageShape), engine.Sampling.Sampler.Name, engine.Sampling.Sampler.Steps);
}
catch (Exception e) when (e is ArgumentException or IOException or InvalidDataException or InvalidOperationException)
{
    Console.Error.WriteLine($"DigitServer: {e.Message.ReplaceLineEndings(" ")}");
    return 1;
}
DigitEndpoints.Map(app);
await app.RunAsync();
return 0;

/// <summary>The entry point, visible to the tests' WebApplicationFactory.</summary>
public partial class Program;
