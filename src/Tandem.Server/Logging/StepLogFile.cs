using System.Runtime;
using System.Text.Json;
using Tandem.Serving.Diagnostics;

namespace Tandem.Server.Logging;

/// <summary>
/// <c>tandem serve --step-log FILE</c>: every instance's engine steps as JSON lines (<see cref="StepLogJson"/>), taken
/// from the rings of <see cref="StepLog"/> every <c>interval</c> and appended, so that the file grows while the server
/// runs and a ring never needs to hold more than an interval's steps; on dispose the rest, then a "process" line with
/// the GC's mode and totals. The work happens on a thread-pool thread, off the instance loops.
/// </summary>
public sealed class StepLogFile : IAsyncDisposable
{
    private readonly IReadOnlyList<StepLog> _logs;
    private readonly long[] _next;
    private readonly FileStream _file;
    private readonly Utf8JsonWriter _json;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private readonly SemaphoreSlim _writing = new(1, 1);

    private StepLogFile(string path, IReadOnlyList<StepLog> logs, TimeSpan interval)
    {
        _logs = logs;
        _next = new long[logs.Count];
        _file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read);
        _json = new Utf8JsonWriter(_file);
        foreach (var log in logs) Line(w => StepLogJson.WriteInstance(w, log));
        _file.Flush();
        _loop = Task.Run(() => Loop(interval, _stop.Token));
    }

    /// <summary>Creates (or truncates) <paramref name="path"/> and starts appending the steps of <paramref name="logs"/>.</summary>
    public static StepLogFile Start(string path, IReadOnlyList<StepLog> logs, TimeSpan interval) => new(path, logs, interval);

    /// <summary>Steps written so far, all instances together.</summary>
    public long StepsWritten { get; private set; }

    private async Task Loop(TimeSpan interval, CancellationToken stop)
    {
        try
        {
            while (true)
            {
                await Task.Delay(interval, stop).ConfigureAwait(false);
                await DrainAsync().ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested) { }
    }

    private async Task DrainAsync()
    {
        await _writing.WaitAsync().ConfigureAwait(false);
        try
        {
            for (int i = 0; i < _logs.Count; i++)
            {
                var log = _logs[i];
                var steps = log.ReadSince(_next[i], out long lost);
                if (lost > 0) Line(w => StepLogJson.WriteLost(w, log.Instance, lost));
                foreach (var s in steps) Line(w => StepLogJson.WriteStep(w, log.Instance, s));
                _next[i] += lost + steps.Length;
                StepsWritten += steps.Length;
            }
            await _file.FlushAsync().ConfigureAwait(false);
        }
        finally
        {
            _writing.Release();
        }
    }

    private void Line(Action<Utf8JsonWriter> write)
    {
        write(_json);
        _json.Flush();
        _json.Reset();
        _file.WriteByte((byte)'\n');
    }

    private void WriteProcess()
    {
        Line(w =>
        {
            w.WriteStartObject();
            w.WriteString("type", "process");
            w.WriteBoolean("server_gc", GCSettings.IsServerGC);
            w.WriteString("gc_latency_mode", GCSettings.LatencyMode.ToString());
            // What the GC runs with (ConcurrentGCEnabled, GCgen0size, ...), however it was set (runtimeconfig, DOTNET_ variables).
            w.WriteStartObject("gc_config");
            foreach (var (key, value) in GC.GetConfigurationVariables().OrderBy(p => p.Key, StringComparer.Ordinal))
                w.WriteString(key, Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture));
            w.WriteEndObject();
            w.WriteNumber("gc0", GC.CollectionCount(0));
            w.WriteNumber("gc1", GC.CollectionCount(1));
            w.WriteNumber("gc2", GC.CollectionCount(2));
            w.WriteNumber("gc_pause", GC.GetTotalPauseDuration().TotalSeconds);
            w.WriteNumber("allocated_bytes", GC.GetTotalAllocatedBytes());
            w.WriteNumber("processors", Environment.ProcessorCount);
            w.WriteEndObject();
        });
    }

    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested) return;
        _stop.Cancel();
        await _loop.ConfigureAwait(false);
        await DrainAsync().ConfigureAwait(false);
        WriteProcess();
        await _json.DisposeAsync().ConfigureAwait(false);
        await _file.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
        _writing.Dispose();
    }
}
