using System.Globalization;

namespace Tandem.Benchmark.Workloads;

/// <summary>One row of a request trace: lengths in tokens, and the arrival time when the trace has them.</summary>
/// <param name="Line">1-based line of the row in its file, for error messages.</param>
public sealed record TraceEntry(int Line, int InputLength, int OutputLength, double? ArrivalTime);

/// <summary>
/// A request trace read by <see cref="TraceWorkload"/>: the rows in file order and, when they carry arrival times,
/// the arrival pattern they describe. The pattern replays at the trace's own pace (<see cref="NativeRate"/>), or
/// stretched to any other mean rate the same way a synthetic pattern is (see <see cref="ArrivalTimesAt"/>).
/// </summary>
public sealed class RequestTrace
{
    private readonly double[]? _offsets;

    public RequestTrace(string path, IReadOnlyList<TraceEntry> entries)
    {
        if (entries.Count == 0) throw new ArgumentException($"{path}: the trace has no rows");
        Path = path;
        Entries = entries;
        int timed = entries.Count(e => e.ArrivalTime is not null);
        if (timed != 0 && timed != entries.Count)
        {
            var first = entries.First(e => (e.ArrivalTime is null) != (entries[0].ArrivalTime is null));
            throw new ArgumentException($"{Path}:{first.Line}: either every row has an arrival time (arrival_time or timestamp) or none has");
        }
        if (timed == 0) return;

        // Times are taken relative to the first row, so absolute timestamps (e.g. Unix seconds) replay as well as offsets.
        double start = entries[0].ArrivalTime!.Value;
        _offsets = new double[entries.Count];
        for (int i = 0; i < entries.Count; i++)
        {
            double t = entries[i].ArrivalTime!.Value;
            if (i > 0 && t < entries[i - 1].ArrivalTime!.Value)
                throw new ArgumentException($"{Path}:{entries[i].Line}: arrival time {t.ToString(CultureInfo.InvariantCulture)} is earlier than the row before it (rows must be in arrival order)");
            _offsets[i] = t - start;
        }
        double span = _offsets[^1];
        NativeRate = span > 0 ? (entries.Count - 1) / span : double.PositiveInfinity;
    }

    public string Path { get; }
    public IReadOnlyList<TraceEntry> Entries { get; }
    public bool HasArrivalTimes => _offsets is not null;

    /// <summary>
    /// The trace's mean request rate: (rows − 1) / (last arrival − first arrival); infinity when all rows arrive
    /// together or there is one row; NaN without arrival times.
    /// </summary>
    public double NativeRate { get; } = double.NaN;

    /// <summary>Arrival times in seconds from the run's start as the trace gives them (the first at 0).</summary>
    public IReadOnlyList<double> Offsets => _offsets ?? throw new InvalidOperationException($"{Path}: the trace has no arrival times");

    /// <summary>
    /// The trace's arrival times stretched so their mean rate is <paramref name="rate"/>: gaps keep their proportions
    /// (bursts stay bursts), only the time unit changes. At <see cref="NativeRate"/> they are the trace's own times;
    /// infinity sends everything at once.
    /// </summary>
    public double[] ArrivalTimesAt(double rate)
    {
        var offsets = Offsets;
        if (!(rate > 0)) throw new ArgumentOutOfRangeException(nameof(rate), $"a request rate must be positive (or inf), got {rate}");
        var times = new double[offsets.Count];
        if (double.IsPositiveInfinity(rate) || double.IsPositiveInfinity(NativeRate)) return times;
        double stretch = NativeRate / rate;
        for (int i = 0; i < times.Length; i++) times[i] = offsets[i] * stretch;
        return times;
    }

    /// <summary>The first <paramref name="count"/> rows (all when the trace is shorter), arrival times unchanged.</summary>
    public RequestTrace Take(int count) => count >= Entries.Count ? this : new RequestTrace(Path, Entries.Take(count).ToList());
}
