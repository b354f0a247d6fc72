namespace Tandem.Engine.Generation;

/// <summary>Why generation ended, in OpenAI's terms.</summary>
public enum FinishReason
{
    /// <summary>An end-of-generation token or a stop string.</summary>
    Stop,
    /// <summary>MaxTokens reached, or the context is full.</summary>
    Length,
    /// <summary>The caller cancelled.</summary>
    Cancelled,
}
