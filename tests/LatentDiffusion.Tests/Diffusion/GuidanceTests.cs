using LatentDiffusion.Diffusion;
using LatentDiffusion.Diffusion.Guidance;
using LatentDiffusion.Diffusion.Samplers;
using LatentDiffusion.Models;
using LatentDiffusion.Models.Denoisers;
using static TorchSharp.torch;

namespace LatentDiffusion.Tests.Diffusion;

/// <summary>Guidance methods as objects: what they combine, and the one rule that counts network passes.</summary>
public class GuidanceTests
{
    private static readonly PredictionKey Conditional = new(DenoiserRole.Main, true), Unconditional = new(DenoiserRole.Main, false),
        Weak = new(DenoiserRole.Autoguidance, true);

    private static Dictionary<PredictionKey, TorchArray> Predictions(float c, float u, float g) => new()
    {
        [Conditional] = new(full([2], c)), [Unconditional] = new(full([2], u)), [Weak] = new(full([2], g)),
    };

    [Fact]
    public void Classifier_free_guidance_extrapolates_from_the_unconditional_prediction()
    {
        var method = ClassifierFreeGuidance.From(new SamplingOptions { GuidanceScale = 3 }, classes: 10)!;
        var p = Predictions(c: 2, u: 1, g: 0);
        Assert.Equal(4f, method.Combine(p[Conditional], Conditional, p, first: true).Value[0].item<float>());        // u + 3 (c - u)
        Assert.Null(ClassifierFreeGuidance.From(new SamplingOptions { GuidanceScale = 1 }, 10));           // conditional only: nothing to add
        Assert.Null(ClassifierFreeGuidance.From(new SamplingOptions { GuidanceScale = 3 }, 0));            // an unconditional model has no c
        Assert.False(ClassifierFreeGuidance.BasisIsConditional(new SamplingOptions { GuidanceScale = 0 }, 10));
    }

    [Fact]
    public void Autoguidance_moves_away_from_the_weak_model_and_classifier_free_guidance_then_adds_its_term()
    {
        var options = new SamplingOptions { GuidanceScale = 3, AutoguidanceScale = 2 };
        var methods = options.GuidanceMethods(classes: 10);
        Assert.IsType<Autoguidance>(methods[0]);
        Assert.IsType<ClassifierFreeGuidance>(methods[1]);
        var p = Predictions(c: 2, u: 1, g: 1.5f);
        var guided = methods[0].Combine(p[Conditional], Conditional, p, first: true);       // g + 2 (c - g) = 2.5
        Assert.Equal(2.5f, guided.Value[0].item<float>());
        var both = methods[1].Combine(guided, Conditional, p, first: false);                 // + (3 - 1)(c - u) = 4.5
        Assert.Equal(4.5f, both.Value[0].item<float>());
        Assert.Equal([Weak], methods[0].Needs(Conditional));
        Assert.Equal([new PredictionKey(DenoiserRole.Autoguidance, false)], methods[0].Needs(Unconditional));
    }

    [Fact]
    public void The_extrapolation_has_one_value_in_both_of_its_spellings()
    {
        using var generator = new Generator(3, CPU);
        var (c, u) = (new TorchArray(randn([1000], generator: generator)), new TorchArray(randn([1000], generator: generator)));
        var first = GuidanceTerm.Extrapolate(c, c, u, 2.25, first: true);
        var later = GuidanceTerm.Extrapolate(c, c, u, 2.25, first: false);
        Assert.True(first.Value.allclose(later.Value, rtol: 1e-6, atol: 1e-6));
    }

    [Theory]
    [InlineData(1.0, 1.0, typeof(DdimSampler))]    // one pass per step
    [InlineData(0.0, 1.0, typeof(DdimSampler))]    // unconditional, one pass
    [InlineData(2.0, 1.0, typeof(DdimSampler))]    // guided on its band: two passes there
    [InlineData(2.0, 1.5, typeof(DdimSampler))]    // and the weak model on its own band
    [InlineData(0.0, 2.0, typeof(DdimSampler))]    // unconditional with autoguidance
    [InlineData(2.0, 1.5, typeof(HeunSampler))]    // two evaluations per step, each guided on its band
    [InlineData(2.0, 1.5, typeof(UniPcSampler))]
    [InlineData(2.0, 1.5, typeof(DpmSolverPlusPlusSampler))]
    public void The_pass_count_in_reports_is_the_number_of_passes_sampling_makes(double guidance, double autoguidance, Type sampler)
    {
        manual_seed(4);
        var denoiser = new DenoiserConfig { DataShape = [2, 4, 4], Width = 8, Classes = 3 };
        var config = new DiffusionModelConfig { Denoiser = denoiser, Timesteps = 100, Autoguidance = denoiser with { Width = 4 } };
        var model = new DiffusionModel(config, DenoiserNetworks.Create(denoiser, CPU), DenoiserNetworks.Create(config.Autoguidance, CPU), CPU);
        var options = new SamplingOptions
        {
            Sampler = TestSamplers.For(sampler, steps: 10), GuidanceScale = guidance, GuidanceMinNoise = 0.4, GuidanceMaxNoise = 0.8,
            AutoguidanceScale = autoguidance, AutoguidanceMinNoise = 0.3,
        };
        var main = new CountingDenoiser(model.Denoiser);
        var weak = new CountingDenoiser(model.AutoguidanceDenoiser!);
        using (no_grad())
        using (var scope = NewDisposeScope())
        using (var engine = new TorchDenoiserEngine(role => role == DenoiserRole.Main ? main : weak, [0, 1, -1], [1, 2, 3], [2, 4, 4], CPU))
            SamplingLoop.Run(engine, model.Process, model.Schedule, options);
        var (denoiserPasses, autoguidancePasses) = model.Passes(options);
        Assert.Equal(denoiserPasses * 3, main.Rows);
        Assert.Equal(autoguidancePasses * 3, weak.Rows);
        int evaluations = options.Sampler.Evaluations(model.Schedule).Count;
        Assert.InRange(denoiserPasses, evaluations, 2 * evaluations);
    }
}
