using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using Tandem.Server.Protocol;

namespace Tandem.Server.Hosting;

/// <summary>
/// Graceful shutdown of the generation endpoints. From the moment the host starts stopping (SIGTERM, Ctrl+C,
/// <c>StopAsync</c>), new generation requests get 503 and /health turns 503, so a load balancer moves on, while the
/// requests already in flight may finish for <see cref="Grace"/>. Any still running then are cut: their runtime
/// requests are cancelled through <see cref="Deadline"/>, so each ends with <c>finish_reason: "abort"</c> in a complete
/// response (a last chunk and <c>[DONE]</c> when streamed), and <see cref="RequestsCut"/> counts them.
/// <para>
/// It runs as the host's first stopping step (<see cref="IHostedLifecycleService.StoppingAsync"/>), before Kestrel stops
/// listening: refusals during the drain are real 503 answers, not refused connections.
/// </para>
/// </summary>
public sealed class ShutdownDrain : IHostedLifecycleService, IDisposable
{
    private readonly object _lock = new();
    private readonly CancellationTokenSource _deadline = new();
    private readonly TaskCompletionSource _idle = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TimeProvider _time;
    private readonly CancellationTokenRegistration _onStopping;
    private long _drainStartedAt;
    private int _inFlight;
    private bool _draining;
    private int _cut;

    /// <param name="lifetime">When given, the drain begins as soon as the application starts stopping.</param>
    public ShutdownDrain(TimeSpan grace, IHostApplicationLifetime? lifetime = null, TimeProvider? time = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(grace, TimeSpan.Zero);
        Grace = grace;
        _time = time ?? TimeProvider.System;
        if (lifetime is not null)
            _onStopping = lifetime.ApplicationStopping.Register(BeginDrain);
    }

    /// <summary>How long requests in flight may run once shutdown begins.</summary>
    public TimeSpan Grace { get; }

    /// <summary>True from the start of shutdown: new generation requests are refused.</summary>
    public bool IsDraining => Volatile.Read(ref _draining);

    /// <summary>Cancelled when the grace period ends with requests still running.</summary>
    public CancellationToken Deadline => _deadline.Token;

    /// <summary>Generation requests still in flight when the grace period ended (0 when all finished in time).</summary>
    public int RequestsCut => Volatile.Read(ref _cut);

    /// <summary>
    /// Counts a generation request in, for as long as the returned lease lives; throws a 503 <see cref="ApiException"/>
    /// once shutdown has begun.
    /// </summary>
    public InFlightRequest Admit()
    {
        lock (_lock)
        {
            if (_draining)
            {
                throw new ApiException(StatusCodes.Status503ServiceUnavailable,
                    "The server is shutting down and accepts no new requests; send them to another instance.",
                    null, "server_shutting_down", ApiException.Unavailable);
            }
            _inFlight++;
        }
        return new InFlightRequest(this);
    }

    private void Leave()
    {
        lock (_lock)
        {
            if (--_inFlight == 0 && _draining)
                _idle.TrySetResult();
        }
    }

    private void BeginDrain()
    {
        lock (_lock)
        {
            if (_draining) return;
            _draining = true;
            _drainStartedAt = _time.GetTimestamp();
            if (_inFlight == 0)
                _idle.TrySetResult();
        }
    }

    /// <summary>Waits for the requests in flight, up to the grace period; then cuts the rest and waits for their answers.</summary>
    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        BeginDrain();
        var left = Grace - _time.GetElapsedTime(Volatile.Read(ref _drainStartedAt));
        try
        {
            await _idle.Task.WaitAsync(left > TimeSpan.Zero ? left : TimeSpan.Zero, _time, cancellationToken);
            return;
        }
        catch (TimeoutException)
        {
        }
        catch (OperationCanceledException)
        {
            // The host's own shutdown timeout ran out first: Kestrel aborts whatever is left.
            return;
        }

        lock (_lock)
            _cut = _inFlight;
        // Cancelling makes the runtime end each request at its next step; the responses then close normally with "abort".
        _deadline.Cancel();
        try
        {
            await _idle.Task.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
        }
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose()
    {
        _onStopping.Dispose();
        _deadline.Dispose();
    }

    /// <summary>One generation request counted in flight; disposing it (once its response is written) counts it out.</summary>
    public readonly struct InFlightRequest : IDisposable
    {
        private readonly ShutdownDrain? _drain;

        internal InFlightRequest(ShutdownDrain drain) => _drain = drain;

        public void Dispose() => _drain?.Leave();
    }
}
