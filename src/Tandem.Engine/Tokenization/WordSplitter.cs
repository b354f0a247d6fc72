namespace Tandem.Engine.Tokenization;

/// <summary>
/// One pre-tokenizer stage: refines a partition of the text (chunk lengths in codepoints) into a finer one,
/// never crossing an existing chunk boundary (as llama.cpp's unicode_regex_split applies each regex in turn).
/// </summary>
internal abstract class WordSplitter
{
    public abstract void Split(SplitText text, List<int> chunks, List<int> result);
}
