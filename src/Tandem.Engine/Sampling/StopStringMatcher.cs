namespace Tandem.Engine.Sampling;

/// <summary>
/// Watches generated text for stop strings, as the OpenAI API and llama.cpp's server do: text before a stop
/// string is emitted, the stop string (unless asked for) and anything after it are not. Text arrives in pieces (one per token) and
/// a stop string may span pieces, so a tail that could still become a stop string is held back until it either
/// completes one or can no longer.
/// </summary>
/// <remarks>
/// When several stop strings are found, the one that ends first wins (the longer on a tie): the one a
/// character-by-character check would meet first. The outcome thus depends only on the text, never on how it
/// was cut into pieces. The returned spans point into an internal buffer and are valid until the next call.
/// </remarks>
public sealed class StopStringMatcher
{
    private readonly string[] _stopStrings;
    private readonly int _longest;
    private readonly bool _includeStopString;
    private char[] _buffer;
    // The buffer holds [0, _length); [0, _handedOut) went to the caller on the last call and is dropped on the next.
    private int _length;
    private int _handedOut;

    /// <param name="includeStopString">
    /// Emit the stop string itself as the last text (vLLM's <c>include_stop_str_in_output</c>); text after it is
    /// still dropped.
    /// </param>
    public StopStringMatcher(IEnumerable<string> stopStrings, bool includeStopString = false)
    {
        ArgumentNullException.ThrowIfNull(stopStrings);
        _stopStrings = [.. stopStrings];
        _includeStopString = includeStopString;
        foreach (string stop in _stopStrings)
        {
            if (string.IsNullOrEmpty(stop))
                throw new ArgumentException("stop strings must be non-empty.", nameof(stopStrings));
            _longest = Math.Max(_longest, stop.Length);
        }
        _buffer = new char[Math.Max(64, 2 * _longest)];
    }

    public IReadOnlyList<string> StopStrings => _stopStrings;

    /// <summary>True once a stop string has been seen; everything after it is discarded.</summary>
    public bool IsStopped => MatchedStopString != null;

    /// <summary>The stop string that ended the text, or null.</summary>
    public string? MatchedStopString { get; private set; }

    /// <summary>How many characters are held back because they could start a stop string.</summary>
    public int HeldBackLength => _length - _handedOut;

    /// <summary>
    /// Adds a piece of generated text and returns the text that is now safe to emit: everything except a tail
    /// that could begin a stop string or, once a stop string appears, everything before it. After a stop,
    /// returns nothing.
    /// </summary>
    public ReadOnlySpan<char> Append(ReadOnlySpan<char> piece)
    {
        if (IsStopped)
            return [];
        DropHandedOut();
        int searchedLength = _length;
        if (_buffer.Length < _length + piece.Length)
            Array.Resize(ref _buffer, Math.Max(2 * _buffer.Length, _length + piece.Length));
        piece.CopyTo(_buffer.AsSpan(_length));
        _length += piece.Length;
        ReadOnlySpan<char> text = _buffer.AsSpan(0, _length);

        int stopStart = FindFirstStop(text, searchedLength, out string? stop);
        if (stop != null)
        {
            MatchedStopString = stop;
            _handedOut = _length;
            return text[..(_includeStopString ? stopStart + stop.Length : stopStart)];
        }
        _handedOut = _length - HoldBack(text);
        return text[.._handedOut];
    }

    /// <summary>At the end of generation: returns the held-back text, which no stop string can complete now.</summary>
    public ReadOnlySpan<char> Flush()
    {
        if (IsStopped)
            return [];
        DropHandedOut();
        _handedOut = _length;
        return _buffer.AsSpan(0, _length);
    }

    /// <summary>Forgets all text and any stop, ready for a new generation with the same stop strings.</summary>
    public void Reset()
    {
        _length = 0;
        _handedOut = 0;
        MatchedStopString = null;
    }

    private void DropHandedOut()
    {
        if (_handedOut == 0)
            return;
        _buffer.AsSpan(_handedOut, _length - _handedOut).CopyTo(_buffer);
        _length -= _handedOut;
        _handedOut = 0;
    }

    /// <summary>
    /// The start of the stop string that ends first in <paramref name="text"/> (on a tie, the longest). Only
    /// occurrences ending past <paramref name="searchedLength"/> are new: the text before it held none.
    /// </summary>
    private int FindFirstStop(ReadOnlySpan<char> text, int searchedLength, out string? found)
    {
        found = null;
        int bestStart = -1, bestEnd = int.MaxValue;
        foreach (string stop in _stopStrings)
        {
            int from = Math.Max(0, searchedLength - stop.Length + 1);
            int index = text[from..].IndexOf(stop.AsSpan(), StringComparison.Ordinal);
            if (index < 0)
                continue;
            int start = from + index, end = start + stop.Length;
            if (end < bestEnd || (end == bestEnd && stop.Length > found!.Length))
            {
                found = stop;
                bestStart = start;
                bestEnd = end;
            }
        }
        return bestStart;
    }

    /// <summary>The length of the longest tail of <paramref name="text"/> that is a proper prefix of a stop string.</summary>
    private int HoldBack(ReadOnlySpan<char> text)
    {
        for (int length = Math.Min(_longest - 1, text.Length); length > 0; length--)
        {
            ReadOnlySpan<char> tail = text[^length..];
            foreach (string stop in _stopStrings)
            {
                if (stop.Length > length && stop.AsSpan().StartsWith(tail, StringComparison.Ordinal))
                    return length;
            }
        }
        return 0;
    }
}
