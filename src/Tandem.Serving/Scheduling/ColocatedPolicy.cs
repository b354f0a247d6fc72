namespace Tandem.Serving.Scheduling;

/// <summary>How a colocated instance shares its steps between prompts and decodes (the baselines DistServe is measured against).</summary>
public enum ColocatedPolicy
{
    /// <summary>vLLM (v0 default): when prompts wait and memory allows, a step runs only prompts; otherwise a decode step.</summary>
    PrefillFirst,
    /// <summary>Sarathi-Serve chunked prefill: each step has a token budget; decode tokens first, prompt chunks fill the rest.</summary>
    Chunked,
}
