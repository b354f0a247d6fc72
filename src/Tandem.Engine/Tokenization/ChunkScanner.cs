namespace Tandem.Engine.Tokenization;

/// <summary>Flags of one codepoint as llama.cpp's hand-written splitters test them.</summary>
internal readonly struct CodepointFlags
{
    private readonly byte _bits; // 1 defined, 2 letter, 4 number, 8 whitespace

    private CodepointFlags(byte bits) => _bits = bits;

    public static CodepointFlags Of(int cp)
    {
        var cat = UnicodeClass.Category(cp);
        byte b = 1;
        if (cat == CodepointCategory.Letter) b |= 2;
        if (cat == CodepointCategory.Number) b |= 4;
        if (UnicodeClass.IsWhitespace(cp)) b |= 8;
        return new CodepointFlags(b);
    }

    /// <summary>Outside the chunk: every flag false, including "defined" (llama.cpp's flags.as_uint() == 0).</summary>
    public static CodepointFlags None => default;

    public bool IsDefined => (_bits & 1) != 0;
    public bool IsLetter => (_bits & 2) != 0;
    public bool IsNumber => (_bits & 4) != 0;
    public bool IsWhitespace => (_bits & 8) != 0;
    /// <summary>[^\s\p{L}\p{N}] inside the chunk.</summary>
    public bool IsOtherThanSpaceLetterNumber => (_bits & 0b1110) == 0 && IsDefined;
}

/// <summary>Codepoint access bounded to one chunk, and the token emitter, shared by the hand-written splitters.</summary>
internal struct ChunkScanner
{
    public const int OutOfRange = -1;
    private readonly int[] _cps;
    private readonly List<int> _result;
    private int _prevEnd;

    public readonly int Begin;
    public readonly int End;

    public ChunkScanner(int[] cps, int begin, int end, List<int> result)
    {
        _cps = cps;
        Begin = begin;
        End = end;
        _result = result;
        _prevEnd = begin;
    }

    public readonly bool InRange(int pos) => pos >= Begin && pos < End;
    public readonly int Cpt(int pos) => InRange(pos) ? _cps[pos] : OutOfRange;
    public readonly CodepointFlags Flags(int pos) => InRange(pos) ? CodepointFlags.Of(_cps[pos]) : CodepointFlags.None;

    /// <summary>Ends the current token at <paramref name="end"/>; returns its length (0 adds nothing).</summary>
    public int AddToken(int end)
    {
        int len = end - _prevEnd;
        if (len > 0) _result.Add(len);
        _prevEnd = end;
        return len;
    }
}
