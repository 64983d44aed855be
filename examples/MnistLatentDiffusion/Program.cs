return await MnistLatentDiffusion.CommandLine.Cli.InvokeAsync(args);
