namespace Tandem.Engine.Gguf;

/// <summary>A GGUF file that cannot be used: the message names the file and, where one is at fault, the tensor.</summary>
public sealed class GgufFormatException(string message) : Exception(message);
