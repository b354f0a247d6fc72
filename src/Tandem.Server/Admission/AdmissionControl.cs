using System.Globalization;
using Microsoft.AspNetCore.Http;
using Tandem.Server.Generation;
using Tandem.Server.Metrics;
using Tandem.Server.Protocol;
using Tandem.Serving;

namespace Tandem.Server.Admission;

/// <summary>
/// Admission control in front of every engine (in-process in each mode, or a cluster frontend): it counts the
/// requests it let in whose first token has not come yet — the waiting prefill work — and refuses a new call with
/// 429 and Retry-After, before anything is queued, when that would pass <see cref="TandemApiOptions.MaxWaitingRequests"/>
/// or when the call's estimated TTFT passes <see cref="TandemApiOptions.SloTtft"/> (Mooncake's early rejection:
/// better a fast no than an answer too late to be of use).
/// </summary>
internal sealed class AdmissionControl
{
    private readonly object _lock = new();
    private readonly IServingEngine _engine;
    private readonly ServingMetrics _metrics;
    private readonly int? _maxWaiting;
    private readonly double? _slo;
    private readonly IPrefillCost? _cost;
    private readonly LivePrefillCost? _live;
    private int _waiting;
    private long _waitingTokens;
    private double _waitingSquares;

    public AdmissionControl(IServingEngine engine, TandemApiOptions options, ServingMetrics metrics)
    {
        _engine = engine;
        _metrics = metrics;
        _maxWaiting = options.MaxWaitingRequests;
        _slo = options.SloTtft?.TotalSeconds;
        if (_slo is not null)
            _cost = options.PrefillProfile is { } profile ? new ProfilePrefillCost(profile) : _live = new LivePrefillCost();
    }

    /// <summary>Requests admitted and waiting for their first token.</summary>
    public int Waiting { get { lock (_lock) return _waiting; } }

    /// <summary>Prefill and colocated instances take prompts; a lost or dead one takes none.</summary>
    internal static bool IsEntry(InstanceSnapshot i) => i.Role is "prefill" or "colocated" && i.Up && i.Failure is null;

    /// <summary>Lets the call in (its choices now count as waiting) or throws a 429 <see cref="ApiException"/> saying why.</summary>
    public AdmissionTicket Admit(GenerationPlan plan)
    {
        if (_maxWaiting is null && _slo is null)
            return new AdmissionTicket(this, plan);
        int choices = plan.ChoiceCount;
        long tokens = 0;
        double squares = 0;
        for (int p = 0; p < plan.Prompts.Count; p++)
        {
            tokens += (long)plan.Prompts[p].Length * plan.N;
            squares += (double)plan.Prompts[p].Length * plan.Prompts[p].Length * plan.N;
        }
        int entries = 1;
        if (_slo is not null)
        {
            var snapshot = _engine.Snapshot();
            _live?.Observe(snapshot);
            entries = Math.Max(1, snapshot.Instances.Count(IsEntry));
        }
        lock (_lock)
        {
            double? queued = _cost?.Seconds(_waiting, _waitingTokens, _waitingSquares) / entries;
            if (_maxWaiting is int max && _waiting + choices > max)
            {
                throw Refuse("max_waiting_requests",
                    $"The server is at its limit of {max} requests waiting to start (--max-waiting-requests); {_waiting} are waiting. Retry later.",
                    queued ?? 1);
            }
            // Alone in the queue a request is let in whatever its estimate: refusing it would only make it come back.
            if (_slo is double slo && _waiting > 0 && _cost!.Seconds(_waiting + choices, _waitingTokens + tokens, _waitingSquares + squares) / entries is double ttft && ttft > slo)
            {
                throw Refuse("slo_ttft",
                    string.Create(CultureInfo.InvariantCulture,
                        $"The server cannot start this request within its TTFT target of {slo:0.###} s: behind the {_waiting} request(s) waiting to start, its first token would come in about {ttft:0.###} s. Retry later."),
                    ttft - slo);
            }
            _waiting += choices;
            _waitingTokens += tokens;
            _waitingSquares += squares;
        }
        return new AdmissionTicket(this, plan);
    }

    private ApiException Refuse(string reason, string message, double retryAfterSeconds)
    {
        _metrics.CountRefusal(reason);
        return new ApiException(StatusCodes.Status429TooManyRequests, message, null, reason, ApiException.RateLimit)
        {
            RetryAfter = TimeSpan.FromSeconds(Math.Clamp(retryAfterSeconds, 1, 3600)),
        };
    }

    /// <summary>A choice of <paramref name="promptTokens"/> tokens got its first token (or ended): it waits no more.</summary>
    internal void Started(int promptTokens)
    {
        if (_maxWaiting is null && _slo is null) return;
        lock (_lock)
        {
            _waiting--;
            _waitingTokens -= promptTokens;
            _waitingSquares -= (double)promptTokens * promptTokens;
        }
    }
}
