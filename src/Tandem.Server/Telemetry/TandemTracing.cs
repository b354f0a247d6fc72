using System.Diagnostics;

namespace Tandem.Server.Telemetry;

/// <summary>
/// The "Tandem" <see cref="ActivitySource"/> and its span names. A request is one <see cref="Request"/> span with a
/// child per phase (<see cref="Queue"/>, <see cref="Prefill"/>, <see cref="KvTransfer"/>, <see cref="Decode"/>),
/// never one per token. With no listener (no --otlp-endpoint) StartActivity returns null and nothing is allocated.
/// </summary>
public static class TandemTracing
{
    public const string SourceName = "Tandem";

    public static readonly ActivitySource Source = new(SourceName, typeof(TandemTracing).Assembly.GetName().Version?.ToString());

    /// <summary>One generation request (one choice of an API call), from submission to its last token.</summary>
    public const string Request = "tandem.request";
    /// <summary>Waiting for a prefill (or colocated) instance to take the prompt in.</summary>
    public const string Queue = "tandem.queue";
    /// <summary>Computing the prompt's KV and the first token.</summary>
    public const string Prefill = "tandem.prefill";
    /// <summary>Moving the KV cache from the prefill instance (or worker) to the decode one.</summary>
    public const string KvTransfer = "tandem.kv_transfer";
    /// <summary>Generating the tokens after the first.</summary>
    public const string Decode = "tandem.decode";
    /// <summary>A cluster frontend's call to a prefill or decode worker (its context travels in the call).</summary>
    public const string WorkerCall = "tandem.worker_call";
    /// <summary>A cluster worker running the call of <see cref="WorkerCall"/> (in the worker's process).</summary>
    public const string WorkerRun = "tandem.worker";
}
