namespace Tandem.Server.Tests;

/// <summary>llama.cpp's greedy continuations on stories260K (shared/models/README.md).</summary>
public static class References
{
    public const string OnceUponATime = "Once upon a time";
    /// <summary>The first 32 greedy tokens after "Once upon a time" (prompt: BOS + 4 tokens).</summary>
    public const string OnceUponATime32 = ", there was a little girl named Lily. She loved to play outside in the park. One day, she saw";
    public const int OnceUponATimePromptTokens = 5;

    public const string LilyAndBen = "Lily and Ben went to the park";
    public const string LilyAndBen32 = ". They saw a big box with a big box. They wanted to play with it. They wanted to play with the bo";
}
