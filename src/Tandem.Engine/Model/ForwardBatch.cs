using Tandem.Engine.KvCache;

namespace Tandem.Engine.Model;

/// <summary>
/// The input of one batched forward call, flattened as vLLM does: each entry is a sequence contributing
/// some tokens (a prompt, a chunk of one, or a single decode token) at its next positions, and whether it
/// wants the logits of its last token. Reused across steps: <see cref="Clear"/> then <see cref="Add"/>.
/// </summary>
public sealed class ForwardBatch
{
    private int[] _tokens = new int[64];
    private int[] _tokenEntry = new int[64];
    private int[] _positions = new int[64];
    private readonly List<KvSequence> _sequences = [];
    private readonly List<int> _entryStart = [];
    private readonly List<bool> _wantLogits = [];

    public int TokenCount { get; private set; }
    public int EntryCount => _sequences.Count;
    /// <summary>Number of logit rows the call produces (entries that asked for logits).</summary>
    public int LogitRows { get; private set; }

    internal ReadOnlySpan<int> Tokens => _tokens.AsSpan(0, TokenCount);
    internal ReadOnlySpan<int> TokenEntries => _tokenEntry.AsSpan(0, TokenCount);
    internal ReadOnlySpan<int> Positions => _positions.AsSpan(0, TokenCount);
    public KvSequence Sequence(int entry) => _sequences[entry];
    internal bool WantsLogits(int entry) => _wantLogits[entry];
    internal int EntryStart(int entry) => _entryStart[entry];
    internal int EntryLength(int entry) => (entry + 1 < _entryStart.Count ? _entryStart[entry + 1] : TokenCount) - _entryStart[entry];

    public void Clear()
    {
        TokenCount = 0;
        LogitRows = 0;
        _sequences.Clear();
        _entryStart.Clear();
        _wantLogits.Clear();
    }

    /// <summary>
    /// Adds <paramref name="tokens"/> for <paramref name="sequence"/> at positions Length, Length+1, ...
    /// A sequence may appear only once per batch.
    /// </summary>
    public void Add(KvSequence sequence, ReadOnlySpan<int> tokens, bool wantLogits)
    {
        if (tokens.IsEmpty) throw new ArgumentException("an entry needs at least one token", nameof(tokens));
        if (_sequences.Contains(sequence)) throw new ArgumentException("a sequence may appear only once per batch", nameof(sequence));
        int need = TokenCount + tokens.Length;
        if (need > _tokens.Length)
        {
            int size = Math.Max(need, _tokens.Length * 2);
            Array.Resize(ref _tokens, size);
            Array.Resize(ref _tokenEntry, size);
            Array.Resize(ref _positions, size);
        }
        int entry = _sequences.Count;
        _sequences.Add(sequence);
        _entryStart.Add(TokenCount);
        _wantLogits.Add(wantLogits);
        for (int i = 0; i < tokens.Length; i++)
        {
            _tokens[TokenCount] = tokens[i];
            _tokenEntry[TokenCount] = entry;
            _positions[TokenCount] = sequence.Length + i;
            TokenCount++;
        }
        if (wantLogits) LogitRows++;
    }
}
