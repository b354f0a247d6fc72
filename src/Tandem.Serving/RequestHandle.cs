using System.Threading.Channels;

namespace Tandem.Serving;

/// <summary>
/// The caller's side of a submitted request: tokens stream through <see cref="Tokens"/> as they are made;
/// <see cref="Completion"/> finishes with the outcome (or faults with the error that ended the request).
/// <see cref="Cancel"/> (client gone, timeout) frees the request's KV wherever it is.
/// </summary>
public sealed class RequestHandle(string id, ChannelReader<TokenOutput> tokens, Task<RequestOutcome> completion, Action cancel)
{
    public string Id { get; } = id;
    public ChannelReader<TokenOutput> Tokens { get; } = tokens;
    public Task<RequestOutcome> Completion { get; } = completion;
    public void Cancel() => cancel();
}
