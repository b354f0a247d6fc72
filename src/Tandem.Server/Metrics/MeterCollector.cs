using System.Diagnostics.Metrics;

namespace Tandem.Server.Metrics;

/// <summary>
/// Aggregates the measurements of one <see cref="Meter"/> instance (not every meter of its name: several servers in
/// one process, as in the tests, keep their numbers apart) the way Prometheus reads them: counters as running sums,
/// histograms into cumulative buckets, observable instruments read at <see cref="Collect"/>. One series per distinct
/// set of tag values; the tag keys of an instrument are the same at every call site, in the same order.
/// </summary>
/// <remarks>
/// Why not the OpenTelemetry Prometheus exporter: it is a beta package, it subscribes by meter name (mixing servers of
/// one process), and it renames (unit and <c>_total</c> suffixes) where vLLM's names must stay exactly as they are.
/// </remarks>
internal sealed class MeterCollector : IDisposable
{
    private readonly Meter _meter;
    private readonly MeterListener _listener = new();
    private readonly List<InstrumentSeries> _instruments = [];
    private readonly Lock _collecting = new();

    public MeterCollector(Meter meter)
    {
        _meter = meter;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (!ReferenceEquals(instrument.Meter, _meter)) return;
            var state = new InstrumentSeries(instrument);
            lock (_instruments) _instruments.Add(state);
            listener.EnableMeasurementEvents(instrument, state);
        };
        _listener.SetMeasurementEventCallback<double>(static (_, value, tags, state) => ((InstrumentSeries)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<long>(static (_, value, tags, state) => ((InstrumentSeries)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<int>(static (_, value, tags, state) => ((InstrumentSeries)state!).Record(value, tags));
        _listener.Start();
    }

    /// <summary>Reads the observable instruments, then returns every instrument's series (in the order they were created).</summary>
    public IReadOnlyList<InstrumentSeries> Collect()
    {
        lock (_collecting)
        {
            lock (_instruments)
                foreach (var i in _instruments)
                    if (i.IsObservable) i.BeginObservation();
            _listener.RecordObservableInstruments();
            lock (_instruments) return [.. _instruments];
        }
    }

    public void Dispose() => _listener.Dispose();
}
