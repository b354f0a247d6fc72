namespace Tandem.Engine.Tokenization;

/// <summary>
/// llama.cpp's SentencePiece tokenizer (llm_tokenizer_spm): spaces become U+2581 (plus a leading one when
/// the vocabulary adds a space prefix), the text is split into characters, and adjacent symbols whose
/// concatenation is a token are merged highest score first (ties: leftmost). Symbols that are not tokens
/// fall back to byte tokens &lt;0xXX&gt;. O(n log n) in the text length.
/// </summary>
public sealed class SentencePieceTokenizer : Tokenizer
{
    internal SentencePieceTokenizer(Vocabulary vocabulary) : base(vocabulary) { }

    private protected override void EncodeFragments(string text, List<TextFragment> fragments, bool addSpecial, List<int> output, int maxTokens)
    {
        var vocab = Vocabulary;
        bool prevSpecial = true; // a space prefix goes before the first text and after every special token
        if (addSpecial && vocab.AddBos) output.Add(vocab.BosId);
        foreach (var f in fragments)
        {
            // Merging is global within a fragment, so the limit is checked between fragments; MinimumTokens has
            // already bounded a fragment's length by the limit times the longest token.
            if (output.Count > maxTokens) return;
            if (f.IsToken)
            {
                output.Add(f.Token);
                prevSpecial = true;
                continue;
            }
            string piece = text.Substring(f.Offset, f.Length);
            if (vocab.AddSpacePrefix && prevSpecial) piece = " " + piece;
            Tokenize(piece.Replace(' ', '\u2581'), output);
            prevSpecial = false;
        }
        if (addSpecial && vocab.AddEos) output.Add(vocab.EosId);
    }

    private struct Symbol
    {
        public int Prev, Next, Start, Length; // Start/Length in chars of the escaped text
    }

    private readonly record struct Bigram(int Left, int Right, int Size);

    /// <summary>Max-heap order of llama.cpp's llm_bigram_spm comparator: higher score first, then smaller left.</summary>
    private sealed class BigramOrder : IComparer<(float Score, int Left)>
    {
        public static readonly BigramOrder Instance = new();
        public int Compare((float Score, int Left) a, (float Score, int Left) b)
        {
            if (a.Score != b.Score) return a.Score > b.Score ? -1 : 1;
            return a.Left.CompareTo(b.Left);
        }
    }

    internal void Tokenize(string text, List<int> output)
    {
        if (text.Length == 0) return;
        var vocab = Vocabulary;
        var symbols = new List<Symbol>(text.Length);
        for (int offs = 0; offs < text.Length;)
        {
            int len = char.IsHighSurrogate(text[offs]) && offs + 1 < text.Length ? 2 : 1;
            int index = symbols.Count;
            symbols.Add(new Symbol { Start = offs, Length = len, Prev = index - 1, Next = offs + len == text.Length ? -1 : index + 1 });
            offs += len;
        }

        var queue = new PriorityQueue<Bigram, (float, int)>(BigramOrder.Instance);
        var sym = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(symbols);

        void TryAddBigram(Span<Symbol> s, int left, int right)
        {
            if (left == -1 || right == -1) return;
            int size = s[left].Length + s[right].Length;
            int token = vocab.TextToToken(text.AsSpan(s[left].Start, size));
            if (token == Vocabulary.NoToken) return;
            queue.Enqueue(new Bigram(left, right, size), (vocab.Scores[token], left));
        }

        for (int i = 1; i < sym.Length; i++) TryAddBigram(sym, i - 1, i);

        while (queue.TryDequeue(out var bigram, out _))
        {
            ref var left = ref sym[bigram.Left];
            ref var right = ref sym[bigram.Right];
            // stale: one side already merged into something else
            if (left.Length == 0 || right.Length == 0 || left.Length + right.Length != bigram.Size) continue;
            left.Length += right.Length;
            right.Length = 0;
            left.Next = right.Next;
            if (right.Next >= 0) sym[right.Next].Prev = bigram.Left;
            TryAddBigram(sym, left.Prev, bigram.Left);
            TryAddBigram(sym, bigram.Left, left.Next);
        }

        Span<byte> utf8 = stackalloc byte[4];
        for (int i = 0; i != -1; i = sym[i].Next)
        {
            var s = sym[i];
            var piece = text.AsSpan(s.Start, s.Length);
            int token = vocab.TextToToken(piece);
            if (token != Vocabulary.NoToken) { output.Add(token); continue; }
            // Only single characters can miss here (merged symbols are tokens by construction), so llama.cpp's
            // rev_merge resegmentation never applies and the character goes out as byte tokens.
            int n = System.Text.Encoding.UTF8.GetBytes(piece, utf8);
            for (int k = 0; k < n; k++)
            {
                int b = vocab.ByteToToken(utf8[k]);
                // llama.cpp aborts when a vocabulary lacks a byte token; the unknown token is the graceful stand-in.
                if (b == Vocabulary.NoToken) b = vocab.UnkId;
                if (b != Vocabulary.NoToken) output.Add(b);
            }
        }
    }
}
