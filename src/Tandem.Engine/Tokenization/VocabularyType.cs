namespace Tandem.Engine.Tokenization;

/// <summary>The tokenizer algorithm a vocabulary uses (GGUF tokenizer.ggml.model).</summary>
public enum VocabularyType
{
    /// <summary>"llama": SentencePiece BPE over UTF-8 characters with byte fallback.</summary>
    SentencePiece,
    /// <summary>"gpt2": byte-level BPE with a regex pre-tokenizer.</summary>
    BytePair,
}
