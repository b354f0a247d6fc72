namespace Tandem.Serving;

/// <summary>How the runtime splits the two phases across instances.</summary>
public enum ServingMode
{
    /// <summary>DistServe: prefill instances and decode instances, KV migrated between them.</summary>
    Disaggregated,
    /// <summary>Baseline: colocated instances, vLLM's prefill-first continuous batching.</summary>
    Colocated,
    /// <summary>Baseline: colocated instances, Sarathi-Serve chunked prefill with a per-step token budget.</summary>
    Chunked,
}
