using System.Text.Json;
using Microsoft.Extensions.AI;
using Tandem.Engine.Chat.Tools;

namespace Tandem.Extensions.AI;

/// <summary>
/// Reads one reply, as it streams, for the tool calls of a <see cref="ToolCallPlan"/> (the server's
/// <see cref="ToolCallStreamParser"/>): the text around calls comes out as <see cref="TextContent"/>, each completed
/// call as a <see cref="FunctionCallContent"/> with a new call id, its function's name and its arguments as a
/// dictionary of JSON values. Without parallel calls (<see cref="ChatOptions.AllowMultipleToolCalls"/> false, or a
/// forced call) only the first call is kept, as over HTTP.
/// </summary>
internal sealed class ToolCallReader(ToolCallPlan plan)
{
    private readonly ToolCallStreamParser _parser = new(plan.Format, plan.ForcedPrefix, plan.ForcedSuffix);
    private int _calls;

    /// <summary>Whether the reply has made a call (it then finishes with <see cref="ChatFinishReason.ToolCalls"/>).</summary>
    public bool MadeCalls => _calls > 0;

    /// <summary>The contents that the next piece of the reply releases (none while it may be part of a call).</summary>
    public List<AIContent> Push(string text)
    {
        var (content, calls) = _parser.Push(text);
        return Contents(content, calls);
    }

    /// <summary>The contents that the end of the reply releases: what was held back, as calls where it parses.</summary>
    public List<AIContent> Finish()
    {
        var (content, calls) = _parser.Finish();
        return Contents(content, calls);
    }

    private List<AIContent> Contents(string content, IReadOnlyList<ParsedToolCall> calls)
    {
        var contents = new List<AIContent>();
        if (content.Length > 0) contents.Add(new TextContent(content));
        foreach (var call in calls)
        {
            if (!plan.Parallel && _calls > 0) break;
            _calls++;
            contents.Add(FunctionCallContent.CreateFromParsedArguments(call.Arguments, "call_" + Guid.NewGuid().ToString("N"), call.Name,
                static json => JsonSerializer.Deserialize<Dictionary<string, object?>>(json, AIJsonUtilities.DefaultOptions)));
        }
        return contents;
    }
}
