namespace Tandem.Engine.Chat;

/// <summary>How a model family writes a tool call in its reply (what vLLM's tool parsers are named after).</summary>
public enum ToolCallFormat
{
    /// <summary>Hermes / Qwen: <c>&lt;tool_call&gt;{"name": ..., "arguments": {...}}&lt;/tool_call&gt;</c>, one block per call.</summary>
    Hermes,

    /// <summary>Llama 3.x: the whole reply is <c>{"name": ..., "parameters": {...}}</c> (optionally after <c>&lt;|python_tag|&gt;</c>), or several separated by ';'.</summary>
    Llama3Json,

    /// <summary>Mistral: <c>[TOOL_CALLS][{"name": ..., "arguments": {...}}, ...]</c>, or <c>[TOOL_CALLS]name[ARGS]{...}</c> in newer templates.</summary>
    Mistral,
}

/// <summary>Picks the tool-call format a chat template teaches its model, from markers in the template's text.</summary>
public static class ToolCallFormats
{
    public static ToolCallFormat Detect(string templateText)
    {
        if (templateText.Contains("[TOOL_CALLS]", StringComparison.Ordinal))
            return ToolCallFormat.Mistral;
        if (templateText.Contains("<tool_call>", StringComparison.Ordinal))
            return ToolCallFormat.Hermes;
        if (templateText.Contains("<|python_tag|>", StringComparison.Ordinal)
            || (templateText.Contains("<|start_header_id|>", StringComparison.Ordinal) && templateText.Contains("tools", StringComparison.Ordinal)))
            return ToolCallFormat.Llama3Json;
        return ToolCallFormat.Hermes;
    }
}
