using System.CommandLine;
using LatentDiffusion.Training;
using Microsoft.Extensions.Logging;
using MnistLatentDiffusion;
using Spectre.Console;

var preset = new Option<string>("--preset") { Description = "quick (a smoke run of a few minutes), default (<= 30 min on 2 cores) or full", DefaultValueFactory = _ => "default" };
var output = new Option<string?>("--out") { Description = "Output folder (default artifacts/<preset>)" };
var device = new Option<string>("--device") { Description = "cpu, cuda or auto", DefaultValueFactory = _ => "cpu" };
var seed = new Option<int>("--seed") { Description = "Seed of every random choice", DefaultValueFactory = _ => 1 };
var verbose = new Option<bool>("--verbose") { Description = "Debug logging (and plain log lines instead of progress bars)" };

var root = new RootCommand("LatentDiffusion for ML.NET: train a latent diffusion model on MNIST, generate digits, score them with FID.")
{
    preset, output, device, seed, verbose,
};
root.SetAction((parse, token) => Commands.RunAsync(parse.GetValue(preset)!, parse.GetValue(output), parse.GetValue(device)!, parse.GetValue(seed), parse.GetValue(verbose), token));

var train = new Command("train", "Same as the bare run: train every model, evaluate, write the model zip, pictures and report.") { preset, output, device, seed, verbose };
train.SetAction((parse, token) => Commands.RunAsync(parse.GetValue(preset)!, parse.GetValue(output), parse.GetValue(device)!, parse.GetValue(seed), parse.GetValue(verbose), token));
root.Subcommands.Add(train);

var model = new Option<string>("--model") { Description = "A saved model zip (from a run's output folder)", Required = true };
var count = new Option<int>("--count") { Description = "How many images", DefaultValueFactory = _ => 100 };
var labels = new Option<string>("--labels") { Description = "Comma-separated digits to cycle through, or 'none' for unconditional", DefaultValueFactory = _ => "0,1,2,3,4,5,6,7,8,9" };
var sampler = new Option<string?>("--sampler") { Description = "ddim or ddpm (default: the model's saved setting)" };
var steps = new Option<int?>("--steps") { Description = "Denoising steps (default: the model's saved setting)" };
var guidance = new Option<double?>("--guidance") { Description = "Classifier-free guidance scale, 0 = unconditional, 1 = conditional (default: the model's saved setting)" };
var band = new Option<string?>("--guidance-band") { Description = "Noise levels t/T where guidance applies, as LOW,HIGH, for example 0,1 for every step (default: the model's saved setting)" };
var precision = new Option<string?>("--precision") { Description = "float32 or bfloat16: the denoiser's number format while sampling (default: the model's saved setting)" };
var autoguidance = new Option<double?>("--autoguidance") { Description = "Autoguidance scale, 1 = off; needs a model trained with a guide UNet (default: the model's saved setting)" };
var autoguidanceBand = new Option<string?>("--autoguidance-band") { Description = "Noise levels t/T where autoguidance applies, as LOW,HIGH (default: the model's saved setting)" };
var png = new Option<string>("--png") { Description = "Output PNG grid", DefaultValueFactory = _ => "generated.png" };
var raw = new Option<string?>("--raw") { Description = "Also write the images as raw little-endian float32 (count x 784) to this file" };
var generate = new Command("generate", "Generate digits from a saved model into a PNG grid.") { model, count, labels, sampler, steps, guidance, band, autoguidance, autoguidanceBand, precision, png, raw, seed, verbose };
SamplingFlags Flags(ParseResult parse) => new(parse.GetValue(sampler), parse.GetValue(steps), parse.GetValue(guidance), parse.GetValue(band), parse.GetValue(precision), parse.GetValue(autoguidance), parse.GetValue(autoguidanceBand));
generate.SetAction((parse, token) => Task.FromResult(Commands.Generate(parse.GetValue(model)!, parse.GetValue(count), parse.GetValue(labels)!, Flags(parse),
    parse.GetValue(png)!, parse.GetValue(raw), parse.GetValue(seed), token)));
root.Subcommands.Add(generate);

var classifier = new Option<string>("--classifier") { Description = "The classifier zip written by a run", DefaultValueFactory = _ => "artifacts/default/classifier.zip" };
var folder = new Option<string?>("--folder") { Description = "A folder of PNG digits to score" };
var evalModel = new Option<string?>("--model") { Description = "A saved model zip to score (generates --count class-balanced samples)" };
var evaluate = new Command("evaluate", "FID (and KID, precision/recall, accuracy, entropy) of a folder of PNGs or a saved model against the MNIST test split.")
    { classifier, folder, evalModel, count, steps, guidance, band, autoguidance, autoguidanceBand, precision, seed };
evaluate.SetAction((parse, token) => Task.FromResult(Commands.Evaluate(parse.GetValue(classifier)!, parse.GetValue(folder), parse.GetValue(evalModel), parse.GetValue(count),
    Flags(parse), parse.GetValue(seed), token)));
root.Subcommands.Add(evaluate);

var benchOut = new Option<string>("--out") { Description = "Folder whose report.json receives the figures", DefaultValueFactory = _ => "artifacts/default" };
var bench = new Command("bench", "Throughput benchmarks: training and generation speed, achieved GFLOP/s, peak memory; merged into report.json.") { model, benchOut, precision, seed };
bench.SetAction((parse, token) => Task.FromResult(Commands.Bench(parse.GetValue(model)!, parse.GetValue(benchOut)!, parse.GetValue(precision), parse.GetValue(seed), token)));
root.Subcommands.Add(bench);

var toyOut = new Option<string>("--out") { Description = "Output folder", DefaultValueFactory = _ => "artifacts/toy" };
var toyEpochs = new Option<int>("--epochs") { Description = "Training epochs per model", DefaultValueFactory = _ => new ToySettings().Epochs };
var toyRows = new Option<int>("--rows") { Description = "Training rows per set (seed 001: 131072)", DefaultValueFactory = _ => new ToySettings().Rows };
var toy = new Command("toy", "Seed 001's point clouds: an MLP denoiser per set and objective, statistical checks against the true distributions, scatter plots and denoising strips, report.json.")
    { toyOut, toyEpochs, toyRows, seed, verbose };
toy.SetAction((parse, token) => Task.FromResult(Commands.Toy(parse.GetValue(toyOut)!, parse.GetValue(toyEpochs), parse.GetValue(toyRows), parse.GetValue(seed), parse.GetValue(verbose), token)));
root.Subcommands.Add(toy);

var budgets = new Option<string>("--budgets") { Description = "Training budgets in minutes, comma-separated", DefaultValueFactory = _ => "5,10,20" };
var compareSamples = new Option<int>("--samples") { Description = "Generated images per run (and reference images for FID)", DefaultValueFactory = _ => 2000 };
var compareOut = new Option<string>("--out") { Description = "Output folder", DefaultValueFactory = _ => "artifacts/latent-vs-pixel" };
var compare = new Command("compare", "Latent against pixel diffusion under equal wall-clock training budgets: FID, accuracy and speed of each, report.json and fid-vs-time.png.")
    { budgets, compareSamples, compareOut, seed, verbose };
compare.SetAction((parse, token) => Task.FromResult(Commands.Compare(parse.GetValue(budgets)!, parse.GetValue(compareSamples), parse.GetValue(compareOut)!, parse.GetValue(seed), parse.GetValue(verbose), token)));
root.Subcommands.Add(compare);

return await root.Parse(args).InvokeAsync();
