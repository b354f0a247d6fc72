using Tandem.Engine.Generation;

namespace Tandem.Server.Generation;

internal static class FinishReasons
{
    /// <summary>OpenAI's finish_reason. A cancelled request has no client left to read it; "abort" is vLLM's word for it.</summary>
    public static string ToApi(FinishReason reason) => reason switch
    {
        FinishReason.Stop => "stop",
        FinishReason.Length => "length",
        _ => "abort",
    };
}
