namespace Tandem.Engine.Tests.Generation;

/// <summary>
/// Prompts whose greedy continuations are compared with llama.cpp's text. They end in every way a prompt can
/// (a whole word, a half-finished sentence, punctuation, a quote, a newline), so some continuations begin with a
/// space-prefixed piece ("The cat sat" + " down"), some with punctuation and some after a line break.
/// Shared with the server tests.
/// </summary>
public static class ContinuationPrompts
{
    public static readonly string[] All =
    [
        "The cat sat",
        "Once upon a time",
        "Lily and Ben went to the park",
        "The little dog was sad because",
        "Tom had a red ball. One day",
        "She was happy",
        "One day, a girl named",
        "The sun was",
        "He ran to the",
        "Mom said",
        "The bird flew",
        "It was a big",
        "\"Can I",
        "The end.",
        "Sam and Sue liked to play.\n",
        "They",
    ];
}
