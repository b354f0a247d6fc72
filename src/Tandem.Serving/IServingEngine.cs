using Tandem.Engine.Model;
using Tandem.Engine.Tokenization;

namespace Tandem.Serving;

/// <summary>
/// What the API layer talks to: the whole runtime (controller and instances) behind one submit call.
/// Thread-safe. Implementations: in-process disaggregated / colocated runtimes now, remote workers later.
/// </summary>
public interface IServingEngine : IAsyncDisposable
{
    ModelConfig Config { get; }
    Tokenizer Tokenizer { get; }
    /// <summary>Longest prompt + completion a request may have.</summary>
    int MaxContext { get; }

    /// <summary>
    /// Most tokens (prompt + completion) of one request the KV cache can hold: the smallest pool on a request's
    /// path, in whole blocks. May be less than <see cref="MaxContext"/>; a request past it is refused (kv_capacity_exceeded).
    /// </summary>
    int KvCapacityTokens { get; }

    /// <summary>
    /// Queues a request. Throws <see cref="RequestRejectedException"/> for requests that can never run
    /// (prompt longer than the context, more KV than any instance holds); other failures fault the handle's
    /// completion.
    /// </summary>
    RequestHandle Submit(GenerationRequest request);

    /// <summary>
    /// Why the engine cannot take requests yet (a cluster frontend without a worker of each role), or null when it
    /// can: GET /health/ready answers 503 with it.
    /// </summary>
    string? NotReadyReason => null;

    /// <summary>Current state for /metrics and /health.</summary>
    ServingSnapshot Snapshot();
}
