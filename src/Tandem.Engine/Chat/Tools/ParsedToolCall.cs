namespace Tandem.Engine.Chat.Tools;

/// <summary>A tool call read from a model's reply: the function's name and its arguments as JSON text.</summary>
public sealed record ParsedToolCall(string Name, string Arguments);
