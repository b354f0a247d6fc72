using System.Runtime.CompilerServices;
using NodeKind = Tandem.Engine.Structured.JsonGrammar.NodeKind;

namespace Tandem.Engine.Structured;

/// <summary>
/// A pushdown automaton over output bytes for a <see cref="JsonGrammar"/>: a stack of frames, one per JSON value
/// being written (the root, then each open object, array, string, number or literal). <see cref="Advance"/> takes
/// one byte or refuses it; a refused byte is one after which no completion of the output is valid. The whole state
/// is a few ints per frame, so it can be compared, keyed (its top frame is the mask cache's key) and rolled back
/// cheaply: while logging, every write is recorded and <see cref="Restore"/> undoes writes back to a
/// <see cref="Mark"/> — how the vocabulary trie walk tries a byte and steps back.
/// </summary>
/// <remarks>
/// A frame is four ints: the grammar node, the frame's phase, and two values whose meaning depends on the kind
/// (an object's key-trie node and next property index, a number's digit count). A frame that can end but might
/// also go on (a number, a literal that is a prefix of another) ends when a byte arrives that it cannot take: it is
/// popped and the byte goes to its parent. Nothing here allocates after construction, except growing the undo log.
/// </remarks>
internal sealed class JsonAutomaton
{
    /// <summary>The most frames: the root plus 63 nested values (deeper JSON is refused: its opening byte is masked).</summary>
    public const int MaxDepth = 64;
    /// <summary>
    /// Whitespace between JSON tokens is llama.cpp's JSON grammar's: none, one space, or a newline and at most this
    /// many spaces or tabs of indentation. Enough for compact and pretty-printed JSON, not for a model that pads forever.
    /// </summary>
    public const int MaxIndent = 20;
    public const int MaxIntegerDigits = 16;
    public const int MaxFractionDigits = 16;
    public const int MaxExponentDigits = 2;

    private const int FrameInts = 4;

    private enum Step : byte { Consumed, ConsumedWhitespace, Rejected, Ended }

    // Object phases (declared and free objects alike).
    private const int AfterOpen = 0, InKey = 1, AfterKey = 2, AfterColon = 3, InValue = 4, AfterValue = 5, AfterComma = 6;
    // Array phases.
    private const int ArrayOpen = 0, ArrayInItem = 1, ArrayAfterItem = 2, ArrayAfterComma = 3;
    // Root phases.
    private const int RootBefore = 0, RootInValue = 1, RootDone = 2;
    // String phases: escapes and the UTF-8 continuation bytes still owed (with the narrower ranges after E0, ED, F0, F4).
    private const int StrNormal = 0, StrEscape = 1, StrHex1 = 2, StrHex2 = 3, StrHex3 = 4, StrHex4 = 5, StrHex2AfterD = 6,
        StrCont1 = 10, StrContA0 = 11, StrCont2 = 12, StrCont80_9F = 13, StrCont90 = 14, StrCont3 = 15, StrCont80_8F = 16;
    // Number phases.
    private const int NumMinus = 1, NumZero = 2, NumInt = 3, NumDot = 4, NumFrac = 5, NumExp = 6, NumExpSign = 7, NumExpDigits = 8;

    private readonly JsonGrammar _g;
    private readonly int[] _f = new int[MaxDepth * FrameInts];
    private int _depth;
    private int _ws;
    // Local mode (LoadTopFrame): the frame index the bytes may not leave, and the depth at which no value may begin.
    private int _floor;
    private int _depthLimit = MaxDepth;

    private bool _logging;
    private int[] _logIndex = new int[256];
    private int[] _logValue = new int[256];
    private int _logCount;

    public JsonAutomaton(JsonGrammar grammar)
    {
        _g = grammar;
        Reset();
    }

    public JsonGrammar Grammar => _g;

    /// <summary>The frames on the stack: 1 before any value, 2 inside the top-level value, and so on.</summary>
    public int Depth => _depth;

    /// <summary>Back to the start: nothing written yet.</summary>
    public void Reset()
    {
        _depth = 1;
        _ws = 0;
        _floor = 0;
        _depthLimit = MaxDepth;
        _f[0] = _g.Root;
        _f[1] = RootBefore;
        _f[2] = _f[3] = 0;
    }

    /// <summary>True when the output so far is a complete value: end of sequence is allowed here.</summary>
    public bool IsComplete
    {
        get
        {
            if (_depth == 1) return _f[1] == RootDone;
            return _depth == 2 && CanEnd(1);
        }
    }

    public void CopyFrom(JsonAutomaton other)
    {
        Array.Copy(other._f, _f, other._depth * FrameInts);
        _depth = other._depth;
        _ws = other._ws;
        _floor = 0;
        _depthLimit = MaxDepth;
    }

    /// <summary>
    /// The ints of <see cref="LoadTopFrame"/>'s local state, the key of the masks that depend on nothing else:
    /// the top frame, the whitespace count, the room left for new frames (only up to <c>reach</c>, the most frames one
    /// token can open: beyond that it cannot matter) or -1 when the top frame is the root.
    /// </summary>
    public const int LocalKeyInts = FrameInts + 2;

    /// <summary>Writes the local state's key (<see cref="LocalKeyInts"/> ints) into <paramref name="key"/>.</summary>
    public void WriteLocalKey(Span<int> key, int reach)
    {
        _f.AsSpan((_depth - 1) * FrameInts, FrameInts).CopyTo(key);
        key[FrameInts] = _ws;
        key[FrameInts + 1] = _depth == 1 ? -1 : Math.Min(MaxDepth - _depth, reach);
    }

    /// <summary>
    /// Becomes the local part of <paramref name="state"/>: its top frame alone, above a placeholder root. Bytes that
    /// stay in that frame and the frames it opens are taken or refused exactly as <paramref name="state"/> would
    /// (with at most <paramref name="reach"/> frames opened, as within one token); a byte that ends the top frame,
    /// whose fate depends on the frames below, gives <see cref="ByteOutcome.LeavesFrame"/> from <see cref="Take"/>.
    /// The top frame at the root is the whole state: nothing then leaves it.
    /// </summary>
    public void LoadTopFrame(JsonAutomaton state, int reach)
    {
        if (state._depth == 1)
        {
            CopyFrom(state);
            return;
        }
        _f[0] = _g.Root;
        _f[1] = RootInValue;
        _f[2] = _f[3] = 0;
        Array.Copy(state._f, (state._depth - 1) * FrameInts, _f, FrameInts, FrameInts);
        _depth = 2;
        _ws = state._ws;
        _floor = 1;
        _depthLimit = 2 + Math.Min(MaxDepth - state._depth, reach);
    }

    /// <summary>Whether the state equals <paramref name="key"/> as written by <see cref="WriteKey"/>.</summary>
    public bool KeyEquals(int[] key) =>
        key.Length == _depth * FrameInts + 1 && key[^1] == _ws && _f.AsSpan(0, _depth * FrameInts).SequenceEqual(key.AsSpan(0, key.Length - 1));

    public int[] WriteKey()
    {
        var key = new int[_depth * FrameInts + 1];
        _f.AsSpan(0, _depth * FrameInts).CopyTo(key);
        key[^1] = _ws;
        return key;
    }

    /// <summary>Starts or stops recording writes for <see cref="Restore"/>.</summary>
    public bool Logging
    {
        get => _logging;
        set { _logging = value; _logCount = 0; }
    }

    /// <summary>A point to come back to with <see cref="Restore"/> (only while <see cref="Logging"/>).</summary>
    public (int Log, int Depth, int Whitespace) Mark() => (_logCount, _depth, _ws);

    public void Restore((int Log, int Depth, int Whitespace) mark)
    {
        for (int i = _logCount - 1; i >= mark.Log; i--) _f[_logIndex[i]] = _logValue[i];
        _logCount = mark.Log;
        _depth = mark.Depth;
        _ws = mark.Whitespace;
    }

    /// <summary>What one byte did: taken, refused, or (in local mode only) it ended the frame that mode is confined to.</summary>
    public enum ByteOutcome : byte { Taken, Refused, LeavesFrame }

    /// <summary>Takes one output byte, or returns false when no valid output continues with it (the state is then undefined unless restored).</summary>
    public bool Advance(byte b) => Take(b) == ByteOutcome.Taken;

    /// <summary><see cref="Advance"/>, telling a refused byte from one that leaves <see cref="LoadTopFrame"/>'s frame.</summary>
    public ByteOutcome Take(byte b)
    {
        while (true)
        {
            int fi = _depth - 1;
            switch (StepFrame(fi, b))
            {
                case Step.Consumed:
                    _ws = 0;
                    return _depth > _floor ? ByteOutcome.Taken : ByteOutcome.LeavesFrame;
                case Step.ConsumedWhitespace:
                    return ByteOutcome.Taken;
                case Step.Rejected:
                    return ByteOutcome.Refused;
                default: // the frame ended before this byte: the parent takes it
                    if (fi == _floor) return ByteOutcome.LeavesFrame;
                    _depth--;
                    ChildDone(_depth - 1);
                    break;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Set(int index, int value)
    {
        if (_f[index] == value) return;
        if (_logging)
        {
            if (_logCount == _logIndex.Length)
            {
                Array.Resize(ref _logIndex, _logCount * 2);
                Array.Resize(ref _logValue, _logCount * 2);
            }
            _logIndex[_logCount] = index;
            _logValue[_logCount++] = _f[index];
        }
        _f[index] = value;
    }

    private static bool IsWhitespace(byte b) => b is (byte)' ' or (byte)'\n' or (byte)'\t' or (byte)'\r';

    /// <summary>A whitespace byte between tokens. _ws: 0 none yet, 1 after one space, 2 + k after a newline and k indent bytes.</summary>
    private Step Whitespace(byte b)
    {
        switch (_ws)
        {
            case 0 when b is (byte)' ' or (byte)'\n':
                _ws = b == ' ' ? 1 : 2;
                return Step.ConsumedWhitespace;
            case >= 2 when b is (byte)' ' or (byte)'\t' && _ws - 2 < MaxIndent:
                _ws++;
                return Step.ConsumedWhitespace;
            default:
                return Step.Rejected;
        }
    }

    private Step StepFrame(int fi, byte b)
    {
        if (fi == 0) return StepRoot(b);
        int node = _f[fi * FrameInts];
        return _g.Kinds[node] switch
        {
            NodeKind.Object => StepObject(fi, node, b),
            NodeKind.FreeObject => StepFreeObject(fi, node, b),
            NodeKind.Array => StepArray(fi, node, b),
            NodeKind.String => StepString(fi, b),
            NodeKind.Number or NodeKind.Integer => StepNumber(fi, node, b),
            _ => StepLiterals(fi, node, b),
        };
    }

    private Step StepRoot(byte b)
    {
        if (IsWhitespace(b)) return _f[1] == RootInValue ? Step.Rejected : Whitespace(b);
        if (_f[1] != RootBefore) return Step.Rejected;
        if (!CanBegin(_g.Root, b)) return Step.Rejected;
        Set(1, RootInValue);
        return Begin(_g.Root, b);
    }

    /// <summary>Whether a value of <paramref name="node"/> can start with <paramref name="b"/> here (and the stack has room).</summary>
    private bool CanBegin(int node, byte b)
    {
        if (_depth >= _depthLimit) return false;
        if (_g.Kinds[node] == NodeKind.Union)
        {
            node = _g.Dispatch[_g.Data[node]][b];
            if (node < 0) return false;
        }
        return _g.Kinds[node] switch
        {
            NodeKind.Object or NodeKind.FreeObject => b == '{',
            NodeKind.Array => b == '[',
            NodeKind.String => b == '"',
            NodeKind.Number or NodeKind.Integer => b == '-' || (uint)(b - '0') <= 9,
            NodeKind.Literals => _g.Tries[_g.Data[node]].Child(0, b) >= 0,
            _ => false,
        };
    }

    /// <summary>Pushes the frame of a value of <paramref name="node"/> that starts with <paramref name="b"/> (checked by <see cref="CanBegin"/>).</summary>
    private Step Begin(int node, byte b)
    {
        if (_g.Kinds[node] == NodeKind.Union) node = _g.Dispatch[_g.Data[node]][b];
        int fi = _depth++;
        int at = fi * FrameInts;
        Set(at, node);
        Set(at + 2, 0);
        Set(at + 3, 0);
        switch (_g.Kinds[node])
        {
            case NodeKind.Number or NodeKind.Integer:
                Set(at + 1, b == '-' ? NumMinus : b == '0' ? NumZero : NumInt);
                Set(at + 2, b is >= (byte)'1' and <= (byte)'9' ? 1 : 0);
                break;
            case NodeKind.Literals:
                int child = _g.Tries[_g.Data[node]].Child(0, b);
                Set(at + 1, child);
                if (_g.Tries[_g.Data[node]].IsLeaf(child)) Pop();
                break;
            default: // objects, arrays and strings start in phase 0 after their opening byte
                Set(at + 1, 0);
                break;
        }
        return Step.Consumed;
    }

    /// <summary>Ends the top frame after its last byte and tells the parent.</summary>
    private void Pop()
    {
        _depth--;
        ChildDone(_depth - 1);
    }

    private void ChildDone(int fi)
    {
        int at = fi * FrameInts;
        if (fi == 0) { Set(1, RootDone); return; }
        switch (_g.Kinds[_f[at]])
        {
            case NodeKind.Array:
                Set(at + 1, ArrayAfterItem);
                break;
            default: // objects: a key (free objects) or a value ended
                if (_f[at + 1] == InValue && _g.Kinds[_f[at]] == NodeKind.Object && _g.Objects[_g.Data[_f[at]]].Variants is { } variants)
                {
                    // A tagged union's tag is written: go on as the branch its value names. The literal's frame, just
                    // popped, still holds where its trie ended (the value's index).
                    int child = at + FrameInts;
                    Set(at, variants[_g.Tries[_g.Data[_f[child]]].Terminal(_f[child + 1])]);
                }
                Set(at + 1, _f[at + 1] == InKey ? AfterKey : AfterValue);
                break;
        }
    }

    /// <summary>Whether frame <paramref name="fi"/> (a number or literal) could end here.</summary>
    private bool CanEnd(int fi)
    {
        int at = fi * FrameInts;
        int node = _f[at];
        return _g.Kinds[node] switch
        {
            NodeKind.Number or NodeKind.Integer => _f[at + 1] is NumZero or NumInt or NumFrac or NumExpDigits,
            NodeKind.Literals => _g.Tries[_g.Data[node]].Terminal(_f[at + 1]) >= 0,
            _ => false,
        };
    }

    private Step StepObject(int fi, int node, byte b)
    {
        int at = fi * FrameInts;
        var shape = _g.Objects[_g.Data[node]];
        int phase = _f[at + 1];
        int next = _f[at + 3]; // the first property that may still be written
        bool more = next < shape.Count, canClose = shape.FirstRequiredFrom[next] == shape.Count;
        switch (phase)
        {
            case AfterOpen or AfterComma:
                if (IsWhitespace(b)) return Whitespace(b);
                if (b == '"' && more)
                {
                    Set(at + 1, InKey);
                    Set(at + 2, 0);
                    return Step.Consumed;
                }
                return phase == AfterOpen ? CloseOrReject(b, '}', canClose) : Step.Rejected;
            case InKey:
                int child = shape.Names.Child(_f[at + 2], b);
                // Keys come in declaration order: one before the next required property, at or after `next`.
                if (child < 0 || !shape.Names.AnyUnder(child, next, Math.Min(shape.FirstRequiredFrom[next], shape.Count - 1)))
                    return Step.Rejected;
                int property = shape.Names.Terminal(child); // names end with their closing quote: terminal = key done
                if (property < 0)
                {
                    Set(at + 2, child);
                    return Step.Consumed;
                }
                Set(at + 1, AfterKey);
                Set(at + 2, property);
                Set(at + 3, property + 1);
                return Step.Consumed;
            default:
                return StepMember(at, phase, b, phase == AfterColon ? shape.ValueNodes[_f[at + 2]] : -1, more, canClose);
        }
    }

    private Step StepFreeObject(int fi, int node, byte b)
    {
        int at = fi * FrameInts;
        int phase = _f[at + 1];
        if (phase is not (AfterOpen or AfterComma)) return StepMember(at, phase, b, _g.Data[node], more: true, canClose: true);
        if (IsWhitespace(b)) return Whitespace(b);
        if (b == '"')
        {
            if (_depth >= _depthLimit) return Step.Rejected;
            Set(at + 1, InKey);
            return Begin(_g.KeyString, b);
        }
        return phase == AfterOpen ? CloseOrReject(b, '}', canClose: true) : Step.Rejected;
    }

    /// <summary>
    /// The phases objects share once a key is read: the colon, the value's first byte (<paramref name="valueNode"/>),
    /// then a comma (when <paramref name="more"/> properties may follow) or the closing brace (when <paramref name="canClose"/>).
    /// </summary>
    private Step StepMember(int at, int phase, byte b, int valueNode, bool more, bool canClose)
    {
        if (IsWhitespace(b)) return phase is AfterKey or AfterColon or AfterValue ? Whitespace(b) : Step.Rejected;
        switch (phase)
        {
            case AfterKey:
                if (b != ':') return Step.Rejected;
                Set(at + 1, AfterColon);
                return Step.Consumed;
            case AfterColon:
                if (!CanBegin(valueNode, b)) return Step.Rejected;
                Set(at + 1, InValue);
                return Begin(valueNode, b);
            case AfterValue:
                return SeparatorOrClose(at, b, AfterComma, more, '}', canClose);
            default:
                return Step.Rejected;
        }
    }

    private Step StepArray(int fi, int node, byte b)
    {
        int at = fi * FrameInts;
        int items = _g.Data[node];
        int phase = _f[at + 1];
        if (IsWhitespace(b)) return Whitespace(b);
        if (phase == ArrayAfterItem) return SeparatorOrClose(at, b, ArrayAfterComma, items >= 0, ']', canClose: true);
        if (phase == ArrayOpen && b == ']') return CloseOrReject(b, ']', canClose: true);
        if (items < 0 || !CanBegin(items, b)) return Step.Rejected;
        Set(at + 1, ArrayInItem);
        return Begin(items, b);
    }

    /// <summary>After a member of an object or array: a comma (to <paramref name="commaPhase"/>) or the closing byte.</summary>
    private Step SeparatorOrClose(int at, byte b, int commaPhase, bool more, char close, bool canClose)
    {
        if (b == ',' && more)
        {
            Set(at + 1, commaPhase);
            return Step.Consumed;
        }
        return CloseOrReject(b, close, canClose);
    }

    private Step CloseOrReject(byte b, char close, bool canClose)
    {
        if (b != close || !canClose) return Step.Rejected;
        Pop();
        return Step.Consumed;
    }

    private Step StepString(int fi, byte b)
    {
        int at = fi * FrameInts + 1;
        int next;
        switch (_f[at])
        {
            case StrNormal:
                if (b == '"')
                {
                    Pop();
                    return Step.Consumed;
                }
                if (b < 0x80)
                {
                    if (b < 0x20) return Step.Rejected; // control characters must be escaped
                    next = b == '\\' ? StrEscape : StrNormal;
                    break;
                }
                next = b switch
                {
                    >= 0xC2 and <= 0xDF => StrCont1,
                    0xE0 => StrContA0,
                    0xED => StrCont80_9F, // no UTF-16 surrogates
                    >= 0xE1 and <= 0xEF => StrCont2,
                    0xF0 => StrCont90,
                    >= 0xF1 and <= 0xF3 => StrCont3,
                    0xF4 => StrCont80_8F, // nothing past U+10FFFF
                    _ => -1,
                };
                break;
            case StrEscape:
                next = b switch
                {
                    (byte)'"' or (byte)'\\' or (byte)'/' or (byte)'b' or (byte)'f' or (byte)'n' or (byte)'r' or (byte)'t' => StrNormal,
                    (byte)'u' => StrHex1,
                    _ => -1,
                };
                break;
            case StrHex1:
                next = b is (byte)'d' or (byte)'D' ? StrHex2AfterD : IsHex(b) ? StrHex2 : -1;
                break;
            case StrHex2AfterD:
                next = b is >= (byte)'0' and <= (byte)'7' ? StrHex3 : -1; // \uD800-\uDFFF would be a lone surrogate
                break;
            case StrHex2:
                next = IsHex(b) ? StrHex3 : -1;
                break;
            case StrHex3:
                next = IsHex(b) ? StrHex4 : -1;
                break;
            case StrHex4:
                next = IsHex(b) ? StrNormal : -1;
                break;
            case StrCont1:
                next = b is >= 0x80 and <= 0xBF ? StrNormal : -1;
                break;
            case StrContA0:
                next = b is >= 0xA0 and <= 0xBF ? StrCont1 : -1;
                break;
            case StrCont80_9F:
                next = b is >= 0x80 and <= 0x9F ? StrCont1 : -1;
                break;
            case StrCont2:
                next = b is >= 0x80 and <= 0xBF ? StrCont1 : -1;
                break;
            case StrCont90:
                next = b is >= 0x90 and <= 0xBF ? StrCont2 : -1;
                break;
            case StrCont3:
                next = b is >= 0x80 and <= 0xBF ? StrCont2 : -1;
                break;
            default: // StrCont80_8F
                next = b is >= 0x80 and <= 0x8F ? StrCont2 : -1;
                break;
        }
        if (next < 0) return Step.Rejected;
        Set(at, next);
        return Step.Consumed;
    }

    private static bool IsHex(byte b) => (uint)(b - '0') <= 9 || (uint)((b | 0x20) - 'a') <= 5;

    private Step StepNumber(int fi, int node, byte b)
    {
        int at = fi * FrameInts;
        bool integer = _g.Kinds[node] == NodeKind.Integer;
        int phase = _f[at + 1];
        int digits = _f[at + 2];
        bool digit = (uint)(b - '0') <= 9;
        bool exponent = !integer && (b | 0x20) == 'e';
        switch (phase)
        {
            case NumMinus:
                if (!digit) return Step.Rejected;
                Set(at + 1, b == '0' ? NumZero : NumInt);
                Set(at + 2, b == '0' ? 0 : 1);
                return Step.Consumed;
            case NumZero or NumInt:
                if (digit && phase == NumInt && digits < MaxIntegerDigits)
                {
                    Set(at + 2, digits + 1);
                    return Step.Consumed;
                }
                if (!integer && b == '.') { Set(at + 1, NumDot); return Step.Consumed; }
                if (exponent) { Set(at + 1, NumExp); return Step.Consumed; }
                return Step.Ended;
            case NumDot:
                if (!digit) return Step.Rejected;
                Set(at + 1, NumFrac);
                Set(at + 2, 1);
                return Step.Consumed;
            case NumFrac:
                if (digit && digits < MaxFractionDigits) { Set(at + 2, digits + 1); return Step.Consumed; }
                if (exponent) { Set(at + 1, NumExp); return Step.Consumed; }
                return Step.Ended;
            case NumExp:
                if (b is (byte)'+' or (byte)'-') { Set(at + 1, NumExpSign); return Step.Consumed; }
                if (!digit) return Step.Rejected;
                Set(at + 1, NumExpDigits);
                Set(at + 2, 1);
                return Step.Consumed;
            case NumExpSign:
                if (!digit) return Step.Rejected;
                Set(at + 1, NumExpDigits);
                Set(at + 2, 1);
                return Step.Consumed;
            default: // NumExpDigits
                if (digit && digits < MaxExponentDigits) { Set(at + 2, digits + 1); return Step.Consumed; }
                return Step.Ended;
        }
    }

    private Step StepLiterals(int fi, int node, byte b)
    {
        int at = fi * FrameInts + 1;
        var trie = _g.Tries[_g.Data[node]];
        int current = _f[at];
        int child = trie.Child(current, b);
        if (child < 0) return trie.Terminal(current) >= 0 ? Step.Ended : Step.Rejected;
        Set(at, child);
        if (trie.IsLeaf(child)) Pop();
        return Step.Consumed;
    }
}
