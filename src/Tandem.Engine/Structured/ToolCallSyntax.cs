using Tandem.Engine.Chat;

namespace Tandem.Engine.Structured;

/// <summary>
/// What constrains the tool calls of a reply that may also be text (tool_choice "auto"): the model's call format,
/// the grammar of one call (its name among the tools', its arguments valid for that tool's parameters) and whether
/// more than one call may follow. Immutable; travels to cluster workers as the format's name and the call's schema text.
/// </summary>
public sealed record ToolCallSyntax(ToolCallFormat Format, JsonGrammar Call, bool Parallel);
