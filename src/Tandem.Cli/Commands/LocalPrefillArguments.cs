using System.CommandLine;
using Tandem.Serving;

namespace Tandem.Cli.Commands;

/// <summary>
/// Conditional disaggregation's options, the same in <c>tandem serve</c> (which runs it) and <c>tandem simulate</c>
/// (which predicts it): the local prefill threshold and the prefill pool's busy mark.
/// </summary>
internal sealed class LocalPrefillArguments
{
    public Option<int> Threshold { get; } = new("--local-prefill-threshold")
    {
        Description = "Disaggregated mode, conditional disaggregation: a prompt whose part not cached on a decode instance is at most this many tokens is prefilled there (no prefill instance, no KV transfer); also the most prompt tokens a decode step takes along. "
            + "The default was measured best on multi-turn chat (docs/experiments/prefix-caching.md: TTFT p50 260 ms against 1.0-1.4 s off, all requests within the SLO against 73-90%, at the cost of a slower TPOT). 0: off, every prompt goes through a prefill instance and a KV transfer. A --role cluster does it only when told: give it to the frontend (which decides) and to the decode workers (each step's budget there); without it, every prompt goes through a prefill worker",
        DefaultValueFactory = _ => ServingOptions.DefaultLocalPrefillThreshold,
    };
    public Option<int> BusyTokens { get; } = new("--prefill-busy-tokens")
    {
        Description = "With --local-prefill-threshold: when every prefill instance has at least this many prompt tokens queued, prompts go to a decode instance whatever their length (0: never). In a cluster, the frontend's",
        DefaultValueFactory = _ => 0,
    };
}
