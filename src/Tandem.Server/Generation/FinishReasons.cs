using Tandem.Engine.Generation;

namespace Tandem.Server.Generation;

internal static class FinishReasons
{
    /// <summary>
    /// vLLM's finish_reason (and metric label) for a request cut short: its client left, it timed out, or the server's
    /// shutdown grace period ended. Every such request ends with this one value, so clients can tell it from a natural end.
    /// </summary>
    public const string Abort = "abort";

    /// <summary>OpenAI's finish_reason for how a request ended.</summary>
    public static string ToApi(FinishReason reason) => reason switch
    {
        FinishReason.Stop => "stop",
        FinishReason.Length => "length",
        _ => Abort,
    };
}
