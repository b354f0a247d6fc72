namespace Tandem.Engine.Chat;

/// <summary>
/// A chat that cannot be turned into a prompt: no template, an unknown template name, a template text no built-in
/// format recognises, or messages the chosen format cannot express. The message is written for the client (an HTTP
/// layer returns it as a 400 error) and names what to change.
/// </summary>
public sealed class ChatTemplateException(string message) : Exception(message);
