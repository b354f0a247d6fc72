namespace Tandem.Benchmark.Workloads;

/// <summary>How synthetic prompts are sent.</summary>
public enum PromptFormat
{
    /// <summary>Text made of common words, about one token each: works with any endpoint, length approximate.</summary>
    Text,
    /// <summary>An array of token ids (completions endpoint only): the server sees exactly the intended length.</summary>
    TokenIds,
}
