using System.Text;

namespace Tandem.Engine.Tokenization;

/// <summary>
/// One text being pre-tokenized: its codepoints plus, built on first use, the two views llama.cpp runs
/// regexes over (the category-collapsed text, one char per codepoint, and the "wide" text with non-ASCII
/// whitespace turned into \v). Chunk boundaries are always codepoint indices.
/// </summary>
internal sealed class SplitText
{
    private string? _collapsed;
    private string? _wide;
    private int[]? _wideStart;    // codepoint index -> UTF-16 index in _wide (length cps+1)
    private int[]? _cpOfWide;     // UTF-16 index in _wide -> codepoint index (length wide+1)

    public int[] Codepoints { get; }

    public SplitText(int[] codepoints) => Codepoints = codepoints;

    public string Collapsed => _collapsed ??= BuildCollapsed();

    public string Wide
    {
        get
        {
            if (_wide == null) BuildWide();
            return _wide!;
        }
    }

    public int WideIndex(int cpIndex)
    {
        if (_wide == null) BuildWide();
        return _wideStart![cpIndex];
    }

    public int CodepointIndexOfWide(int wideIndex)
    {
        if (_wide == null) BuildWide();
        return _cpOfWide![wideIndex];
    }

    private string BuildCollapsed()
    {
        return string.Create(Codepoints.Length, Codepoints, static (span, cps) =>
        {
            for (int i = 0; i < cps.Length; i++) span[i] = UnicodeClass.Collapsed(cps[i]);
        });
    }

    private void BuildWide()
    {
        var sb = new StringBuilder(Codepoints.Length);
        var start = new int[Codepoints.Length + 1];
        for (int i = 0; i < Codepoints.Length; i++)
        {
            start[i] = sb.Length;
            int cp = Codepoints[i];
            // llama.cpp: std::wregex's \s does not know non-ASCII whitespace, so it is replaced by \v.
            if (cp > 0x7F && UnicodeClass.IsWhitespace(cp)) sb.Append('\v');
            else if (cp >= 0x10000) sb.Append(char.ConvertFromUtf32(cp));
            else sb.Append((char)cp);
        }
        start[Codepoints.Length] = sb.Length;
        var back = new int[sb.Length + 1];
        for (int i = 0; i < Codepoints.Length; i++)
            for (int u = start[i]; u < start[i + 1]; u++) back[u] = i;
        back[sb.Length] = Codepoints.Length;
        _wide = sb.ToString();
        _wideStart = start;
        _cpOfWide = back;
    }
}
