return await MnistLatentDiffusion.Cli.InvokeAsync(args);
