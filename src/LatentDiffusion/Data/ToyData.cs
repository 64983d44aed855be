
namespace LatentDiffusion.Data;

/// <summary>The toy point clouds: a parabola in 2-D, and moons with circles in 4-D with labels.</summary>
public enum ToyDataSet
{
    /// <summary>Two numbers per row: x ~ N(0, 4^2) and y ~ N(x^2 / 4, 1). No labels.</summary>
    Parabola,
    /// <summary>
    /// Four numbers per row, the reference experiments' "complex" set: two moons (scikit-learn's make_moons, noise 0.01) shifted by +15 in
    /// the first two, two concentric circles (make_circles, noise 0.01, factor 0.1) in the last two, each shuffled on its
    /// own and stacked side by side. The label (0..3) is which moon times 2 plus which circle (0 = outer moon or circle,
    /// 1 = inner), for conditional generation.
    /// </summary>
    MoonsAndCircles,
}

/// <summary>
/// Generates the toy data sets from a seed, the same on every machine (System.Random with a seed and Box-Muller
/// normals), and says which component of the moons-and-circles set a point belongs to.
/// </summary>
public static class ToyData
{
    /// <summary>The reference experiments' size: 1024 x 128 rows.</summary>
    public const int SeedRows = 1024 * 128;

    /// <summary>Numbers per row of <paramref name="set"/>.</summary>
    public static int Dimensions(ToyDataSet set) => set == ToyDataSet.Parabola ? 2 : 4;

    /// <summary>Whether rows of <paramref name="set"/> carry labels, and how many classes.</summary>
    public static int Classes(ToyDataSet set) => set == ToyDataSet.Parabola ? 0 : 4;

    /// <summary>
    /// <paramref name="rows"/> rows of <paramref name="set"/> (row-major, <see cref="Dimensions"/> numbers each) and
    /// their labels (all 0 for the parabola).
    /// </summary>
    public static (float[] Values, int[] Labels) Generate(ToyDataSet set, int rows, int seed)
    {
        if (rows < 2) throw new ArgumentOutOfRangeException(nameof(rows), rows, $"A toy data set needs at least 2 rows, got {rows}.");
        // Its values are one array of rows x dimensions floats.
        int most = Array.MaxLength / Dimensions(set);
        if (rows > most) throw new ArgumentOutOfRangeException(nameof(rows), rows,
            $"A toy data set of {Dimensions(set)} dimensions holds at most {most:N0} rows, got {rows}.");
        var random = new Random(seed);
        if (set == ToyDataSet.Parabola)
        {
            var values = new float[rows * 2];
            for (int i = 0; i < rows; i++)
            {
                double x = 4 * Normal(random);
                values[2 * i] = (float)x;
                values[2 * i + 1] = (float)(x * x / 4 + Normal(random));
            }
            return (values, new int[rows]);
        }
        if (set != ToyDataSet.MoonsAndCircles) throw new ArgumentOutOfRangeException(nameof(set), set, "Unknown toy data set.");
        var (moons, moonLabels) = Moons(rows, 0.01, random);
        var (circles, circleLabels) = Circles(rows, 0.01, 0.1, random);
        var stacked = new float[rows * 4];
        var labels = new int[rows];
        for (int i = 0; i < rows; i++)
        {
            stacked[4 * i] = (float)(moons[2 * i] + 15);
            stacked[4 * i + 1] = (float)(moons[2 * i + 1] + 15);
            stacked[4 * i + 2] = (float)circles[2 * i];
            stacked[4 * i + 3] = (float)circles[2 * i + 1];
            labels[i] = moonLabels[i] * 2 + circleLabels[i];
        }
        return (stacked, labels);
    }

    /// <summary>scikit-learn's make_moons: the upper half circle, and the lower one shifted by (1, -0.5), each with Gaussian noise; shuffled.</summary>
    private static (double[] Points, int[] Labels) Moons(int n, double noise, Random random)
    {
        int outer = n / 2, inner = n - outer;
        var points = new List<(double X, double Y, int Label)>(n);
        for (int i = 0; i < outer; i++)
        {
            double angle = Math.PI * i / Math.Max(outer - 1, 1);
            points.Add((Math.Cos(angle), Math.Sin(angle), 0));
        }
        for (int i = 0; i < inner; i++)
        {
            double angle = Math.PI * i / Math.Max(inner - 1, 1);
            points.Add((1 - Math.Cos(angle), 1 - Math.Sin(angle) - 0.5, 1));
        }
        return ShuffleWithNoise(points, noise, random);
    }

    /// <summary>
    /// scikit-learn's make_circles: a unit circle and one scaled by <paramref name="factor"/>, points evenly spaced,
    /// with Gaussian noise; shuffled.
    /// </summary>
    private static (double[] Points, int[] Labels) Circles(int n, double noise, double factor, Random random)
    {
        int outer = n / 2, inner = n - outer;
        var points = new List<(double X, double Y, int Label)>(n);
        for (int i = 0; i < outer; i++)
        {
            double angle = 2 * Math.PI * i / outer;
            points.Add((Math.Cos(angle), Math.Sin(angle), 0));
        }
        for (int i = 0; i < inner; i++)
        {
            double angle = 2 * Math.PI * i / inner;
            points.Add((factor * Math.Cos(angle), factor * Math.Sin(angle), 1));
        }
        return ShuffleWithNoise(points, noise, random);
    }

    private static (double[] Points, int[] Labels) ShuffleWithNoise(List<(double X, double Y, int Label)> points, double noise, Random random)
    {
        var order = Enumerable.Range(0, points.Count).ToArray();
        random.Shuffle(order);
        var xy = new double[points.Count * 2];
        var labels = new int[points.Count];
        for (int i = 0; i < order.Length; i++)
        {
            var (x, y, label) = points[order[i]];
            xy[2 * i] = x + noise * Normal(random);
            xy[2 * i + 1] = y + noise * Normal(random);
            labels[i] = label;
        }
        return (xy, labels);
    }

    private static double Normal(Random random)
    {
        double u = 1 - random.NextDouble(), v = random.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u)) * Math.Cos(2 * Math.PI * v);
    }

    /// <summary>
    /// The component of the moons-and-circles set nearest to a point (label 0..3, as <see cref="Generate"/> numbers them)
    /// and the point's distance to it: the larger of its distances to the nearest moon arc (first two numbers) and to the
    /// nearest circle (last two).
    /// </summary>
    public static (int Label, double Distance) NearestComponent(ReadOnlySpan<float> row)
    {
        if (row.Length != 4) throw new ArgumentException($"A moons-and-circles row has 4 numbers, got {row.Length}.", nameof(row));
        double mx = row[0] - 15, my = row[1] - 15;
        double outerMoon = ArcDistance(mx, my, 0, 0, upper: true), innerMoon = ArcDistance(mx, my, 1, 0.5, upper: false);
        double radius = Math.Sqrt(row[2] * (double)row[2] + row[3] * (double)row[3]);
        double outerCircle = Math.Abs(radius - 1), innerCircle = Math.Abs(radius - 0.1);
        int moon = outerMoon <= innerMoon ? 0 : 1, circle = outerCircle <= innerCircle ? 0 : 1;
        return (moon * 2 + circle, Math.Max(Math.Min(outerMoon, innerMoon), Math.Min(outerCircle, innerCircle)));
    }

    /// <summary>Distance from (x, y) to the unit half circle centred at (cx, cy): its upper half, or its lower half.</summary>
    private static double ArcDistance(double x, double y, double cx, double cy, bool upper)
    {
        double dx = x - cx, dy = y - cy;
        bool onArcSide = upper ? dy >= 0 : dy <= 0;
        if (onArcSide) return Math.Abs(Math.Sqrt(dx * dx + dy * dy) - 1);
        return Math.Min(Math.Sqrt((dx - 1) * (dx - 1) + dy * dy), Math.Sqrt((dx + 1) * (dx + 1) + dy * dy));
    }
}
