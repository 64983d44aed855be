using System.Threading.Channels;
using LatentDiffusion.Diffusion;

namespace DigitServer;

/// <summary>
/// Every generation goes through here: requests wait in a channel, and one worker runs them on the engine, joining the
/// waiting requests that sample alike (same sampler and steps) into one call of at most <see cref="MaxBatchImages"/>
/// images, so that concurrent clients share the network's batches. One thread touches the model. A request whose
/// client has gone is dropped before it runs. The same (label, seed) gives the same image in any batch: the batch size
/// changes only the last bits of the network's float32 arithmetic, which the VQ decoder's codes absorb for this
/// repository's models (the tests check the images of 32 concurrent requests against serial ones).
/// </summary>
public sealed class GenerationQueue(IDigitEngine engine, ILogger<GenerationQueue> logger) : BackgroundService
{
    /// <summary>Images per engine call, at most.</summary>
    public const int MaxBatchImages = 256;

    private sealed record Job(int[] Labels, long[] Seeds, SamplingOptions Sampling, string Key, CancellationToken Token)
    {
        public TaskCompletionSource<float[]> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private readonly Channel<Job> channel = Channel.CreateBounded<Job>(new BoundedChannelOptions(1024) { SingleReader = true });
    private long requests, batches, images;

    /// <summary>Requests run, engine calls made, images generated, since the service started.</summary>
    public (long Requests, long Batches, long Images) Counts => (Interlocked.Read(ref requests), Interlocked.Read(ref batches), Interlocked.Read(ref images));

    /// <summary>Queues one request; its images, rows x image size floats, when its batch has run.</summary>
    public async Task<float[]> GenerateAsync(int[] labels, long[] seeds, SamplingOptions sampling, CancellationToken token)
    {
        var job = new Job(labels, seeds, sampling, $"{sampling.Sampler.Name}/{sampling.Sampler.Steps}", token);
        await channel.Writer.WriteAsync(job, token);
        return await job.Done.Task.WaitAsync(token);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var waiting = new List<Job>();
        while (!stoppingToken.IsCancellationRequested)
        {
            if (waiting.Count == 0) waiting.Add(await channel.Reader.ReadAsync(stoppingToken));
            while (channel.Reader.TryRead(out var more)) waiting.Add(more);
            var batch = TakeBatch(waiting);
            if (batch.Count > 0) Run(batch);
        }
    }

    /// <summary>The oldest waiting request and the later ones that sample alike, within the batch bound; abandoned ones are dropped.</summary>
    private static List<Job> TakeBatch(List<Job> waiting)
    {
        var batch = new List<Job>();
        string key = waiting[0].Key;
        int count = 0;
        foreach (var job in waiting.ToList())
        {
            if (job.Token.IsCancellationRequested)
            {
                waiting.Remove(job);
                job.Done.TrySetCanceled(job.Token);
            }
            else if (job.Key == key && (batch.Count == 0 || count + job.Labels.Length <= MaxBatchImages))
            {
                waiting.Remove(job);
                batch.Add(job);
                count += job.Labels.Length;
            }
        }
        return batch;
    }

    private void Run(List<Job> batch)
    {
        try
        {
            float[] all = engine.Generate([.. batch.SelectMany(j => j.Labels)], [.. batch.SelectMany(j => j.Seeds)], batch[0].Sampling);
            int size = all.Length / batch.Sum(j => j.Labels.Length), offset = 0;
            foreach (var job in batch)
            {
                job.Done.TrySetResult(all.AsSpan(offset, job.Labels.Length * size).ToArray());
                offset += job.Labels.Length * size;
            }
            Interlocked.Add(ref requests, batch.Count);
            Interlocked.Increment(ref batches);
            Interlocked.Add(ref images, all.Length / size);
        }
        catch (Exception e)
        {
            logger.LogError(e, "A batch of {Count} requests failed", batch.Count);
            foreach (var job in batch) job.Done.TrySetException(e);
        }
    }
}
