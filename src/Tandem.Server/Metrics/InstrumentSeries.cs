using System.Diagnostics.Metrics;

namespace Tandem.Server.Metrics;

/// <summary>How Prometheus types an instrument's series.</summary>
internal enum SeriesKind { Counter, Gauge, Histogram }

/// <summary>One instrument's series, each a set of tag values with its sum, last value or histogram.</summary>
internal sealed class InstrumentSeries
{
    private readonly List<Series> _series = [];
    private readonly double[] _bounds;

    public InstrumentSeries(Instrument instrument)
    {
        Instrument = instrument;
        IsObservable = instrument.IsObservable;
        Kind = instrument switch
        {
            Histogram<double> or Histogram<long> or Histogram<int> => SeriesKind.Histogram,
            Counter<double> or Counter<long> or Counter<int> or ObservableCounter<double> or ObservableCounter<long> or ObservableCounter<int> => SeriesKind.Counter,
            _ => SeriesKind.Gauge,
        };
        _bounds = instrument switch
        {
            Histogram<double> h => h.Advice?.HistogramBucketBoundaries?.ToArray() ?? DefaultBounds,
            Histogram<long> h => h.Advice?.HistogramBucketBoundaries?.Select(b => (double)b).ToArray() ?? DefaultBounds,
            Histogram<int> h => h.Advice?.HistogramBucketBoundaries?.Select(b => (double)b).ToArray() ?? DefaultBounds,
            _ => [],
        };
    }

    /// <summary>OpenTelemetry's default explicit buckets, for a histogram created without advice.</summary>
    private static readonly double[] DefaultBounds = [0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000];

    public Instrument Instrument { get; }
    public bool IsObservable { get; }
    public SeriesKind Kind { get; }
    /// <summary>Upper bounds of the finite buckets (histograms).</summary>
    public ReadOnlySpan<double> Bounds => _bounds;

    /// <summary>A copy of the series as they are now.</summary>
    public IReadOnlyList<Series> Snapshot()
    {
        lock (_series) return [.. _series.Where(s => !s.Stale).Select(s => s.Copy())];
    }

    /// <summary>An observable gauge reports what exists now: series it does not report again are dropped (a worker left).</summary>
    internal void BeginObservation()
    {
        lock (_series)
            foreach (var s in _series) s.Stale = true;
    }

    internal void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        lock (_series)
        {
            var s = Find(tags);
            s.Stale = false;
            switch (Kind)
            {
                case SeriesKind.Histogram:
                    int b = 0;
                    while (b < _bounds.Length && value > _bounds[b]) b++; // Prometheus' le: a value on a bound counts in that bucket
                    s.Buckets![b]++;
                    s.Count++;
                    s.Value += value;
                    break;
                case SeriesKind.Counter when !IsObservable:
                    s.Value += value;
                    break;
                default: // gauges, and observable counters, which report their running total
                    s.Value = value;
                    break;
            }
        }
    }

    /// <summary>The series of these tag values, created at its first measurement (allocation-free once it exists).</summary>
    private Series Find(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        foreach (var s in _series)
            if (s.Matches(tags)) return s;
        var created = new Series(tags, Kind == SeriesKind.Histogram ? new long[_bounds.Length + 1] : null);
        _series.Add(created);
        return created;
    }
}
