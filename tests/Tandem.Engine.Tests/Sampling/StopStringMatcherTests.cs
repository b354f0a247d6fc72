using System.Text;
using Tandem.Engine.Sampling;

namespace Tandem.Engine.Tests.Sampling;

public class StopStringMatcherTests
{
    /// <summary>Feeds the pieces, then flushes; returns all emitted text and the stop string met.</summary>
    private static (string Text, string? Stop) Run(StopStringMatcher matcher, IEnumerable<string> pieces)
    {
        var emitted = new StringBuilder();
        foreach (string piece in pieces)
        {
            emitted.Append(matcher.Append(piece));
            if (matcher.IsStopped)
                break;
        }
        emitted.Append(matcher.Flush());
        return (emitted.ToString(), matcher.MatchedStopString);
    }

    /// <summary>The definition, checked character by character: the first stop string to be completed (the longest on a tie).</summary>
    private static (string Text, string? Stop) Reference(string text, string[] stops)
    {
        for (int end = 1; end <= text.Length; end++)
        {
            foreach (string stop in stops.OrderByDescending(s => s.Length))
            {
                if (text.AsSpan(0, end).EndsWith(stop, StringComparison.Ordinal))
                    return (text[..(end - stop.Length)], stop);
            }
        }
        return (text, null);
    }

    [Fact]
    public void StopStringAcrossPieces_IsHeldThenCut()
    {
        var matcher = new StopStringMatcher(["</s>"]);
        Assert.Equal("Hello ", matcher.Append("Hello <").ToString());
        Assert.Equal(1, matcher.HeldBackLength);
        Assert.Equal("", matcher.Append("/").ToString());
        Assert.Equal(2, matcher.HeldBackLength);
        Assert.Equal("", matcher.Append("s> world").ToString());
        Assert.True(matcher.IsStopped);
        Assert.Equal("</s>", matcher.MatchedStopString);
        Assert.Equal("", matcher.Append("more").ToString());
        Assert.Equal("", matcher.Flush().ToString());
    }

    [Fact]
    public void HeldText_IsReleasedWhenItCannotBecomeAStop()
    {
        var matcher = new StopStringMatcher(["</s>"]);
        Assert.Equal("a ", matcher.Append("a <").ToString());
        Assert.Equal("</b", matcher.Append("/b").ToString());
        Assert.Equal("x<", matcher.Append("x<").ToString() + matcher.Flush().ToString());
        Assert.False(matcher.IsStopped);
    }

    [Fact]
    public void TextBeforeTheStopInTheSamePiece_IsEmitted()
    {
        var matcher = new StopStringMatcher(["###"]);
        Assert.Equal("abc", matcher.Append("abc###def").ToString());
        Assert.Equal("###", matcher.MatchedStopString);
    }

    [Fact]
    public void StopAtPositionZero_EmitsNothing()
    {
        var matcher = new StopStringMatcher(["STOP"]);
        Assert.Equal("", matcher.Append("STOP and more").ToString());
        Assert.True(matcher.IsStopped);
        Assert.Equal(("", "\n"), Run(new StopStringMatcher(["\n"]), ["\n", "x"]));
    }

    [Fact]
    public void OverlappingPrefixes_AreFoundAfterAFalseStart()
    {
        // "abab" inside "abaabab": the held "aba" fails at the second 'a' but its tail "a" is kept as a new start.
        var matcher = new StopStringMatcher(["abab"]);
        Assert.Equal("", matcher.Append("aba").ToString());
        Assert.Equal("aba", matcher.Append("a").ToString());
        Assert.Equal(1, matcher.HeldBackLength);
        Assert.Equal("", matcher.Append("bab").ToString());
        Assert.Equal("abab", matcher.MatchedStopString);
    }

    [Fact]
    public void MultipleStopStrings_FirstCompletedWins()
    {
        Assert.Equal(("xx", "bar"), Run(new StopStringMatcher(["foo", "bar"]), ["xxbarfoo"]));
        Assert.Equal(("xx", "foo"), Run(new StopStringMatcher(["foo", "bar"]), ["xxfo", "obar"]));
        // "b" completes before "abc" when the text is read in order, whatever the pieces.
        Assert.Equal(("a", "b"), Run(new StopStringMatcher(["abc", "b"]), ["abc"]));
        // Both end at once: the longer one, which starts earlier, is cut.
        Assert.Equal(("x", "abc"), Run(new StopStringMatcher(["bc", "abc"]), ["xab", "c"]));
    }

    [Fact]
    public void NoStopStrings_PassesTextThrough()
    {
        var matcher = new StopStringMatcher([]);
        Assert.Equal("anything <", matcher.Append("anything <").ToString());
        Assert.Equal(0, matcher.HeldBackLength);
    }

    [Fact]
    public void Reset_StartsOver()
    {
        var matcher = new StopStringMatcher(["END"]);
        matcher.Append("xxEND");
        matcher.Reset();
        Assert.False(matcher.IsStopped);
        Assert.Equal("yy", matcher.Append("yyE").ToString());
        Assert.Equal("E", matcher.Flush().ToString());
    }

    [Fact]
    public void LongPieces_GrowTheBuffer()
    {
        var matcher = new StopStringMatcher(["<|end|>"]);
        string longText = new('z', 10_000);
        Assert.Equal(longText, matcher.Append(longText + "<|en").ToString());
        Assert.Equal(4, matcher.HeldBackLength);
        Assert.Equal("", matcher.Append("d|>").ToString());
        Assert.Equal("<|end|>", matcher.MatchedStopString);
    }

    [Theory]
    [InlineData("The answer is 42.\nUser: hi", new[] { "\nUser:", "\n\n" })]
    [InlineData("aaaaab", new[] { "aab", "aaaaaa" })]
    [InlineData("abaabab then more", new[] { "abab", "ba", "xyz" })]
    [InlineData("no stop here at all", new[] { "stop!", "zz" })]
    [InlineData("<|im_end|><|im_start|>", new[] { "<|im_start|>", "<|im_end|>", "<|" })]
    [InlineData("résumé 🙂 done", new[] { "🙂", "é 🙂" })]
    [InlineData("mississippi", new[] { "issip", "ssippi", "sis" })]
    public void Outcome_DoesNotDependOnPieceBoundaries(string text, string[] stops)
    {
        var expected = Reference(text, stops);
        var random = new Random(text.Length);
        for (int trial = 0; trial < 200; trial++)
        {
            var pieces = new List<string>();
            for (int i = 0; i < text.Length;)
            {
                int length = trial == 0 ? 1 : Math.Min(text.Length - i, random.Next(1, 6));
                pieces.Add(text.Substring(i, length));
                i += length;
            }
            Assert.Equal(expected, Run(new StopStringMatcher(stops), pieces));
        }
        Assert.Equal(expected, Run(new StopStringMatcher(stops), [text]));
    }

    [Fact]
    public void EmptyStopString_IsRejected()
    {
        Assert.Equal("stopStrings", Assert.Throws<ArgumentException>(() => new StopStringMatcher(["ok", ""])).ParamName);
        Assert.Throws<ArgumentNullException>(() => new StopStringMatcher(null!));
    }
}
