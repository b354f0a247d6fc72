namespace Tandem.Engine.Tokenization;

/// <summary>A piece of the input: either a special token already recognised, or a range of raw text.</summary>
internal readonly record struct TextFragment(int Token, int Offset, int Length)
{
    public bool IsToken => Token >= 0;
    public static TextFragment Text(int offset, int length) => new(-1, offset, length);
    public static TextFragment Special(int token) => new(token, 0, 0);
}
