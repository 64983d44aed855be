namespace LatentDiffusion.Training;

/// <summary>
/// What every training recipe learns from: <paramref name="Rows"/> samples, row-major in <paramref name="Values"/>,
/// and optional labels in 0..classes-1, one per row.
/// </summary>
internal sealed record TrainingData(float[] Values, int[]? Labels, int Rows);
