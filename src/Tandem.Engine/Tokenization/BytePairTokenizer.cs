namespace Tandem.Engine.Tokenization;

/// <summary>
/// llama.cpp's byte-level BPE tokenizer (llm_tokenizer_bpe): the pre-tokenizer splits the text into words
/// (GPT-2 byte-encoded), and in each word adjacent symbols merge by lowest merge rank first (ties: leftmost).
/// Final symbols that are not tokens are emitted byte by byte.
/// </summary>
public sealed class BytePairTokenizer : Tokenizer
{
    private readonly PreTokenizer _pre;

    internal BytePairTokenizer(Vocabulary vocabulary) : base(vocabulary) =>
        _pre = vocabulary.PreTokenizer ?? throw new ArgumentException("vocabulary has no BPE pre-tokenizer", nameof(vocabulary));

    private protected override void EncodeFragments(string text, List<TextFragment> fragments, bool addSpecial, List<int> output, int maxTokens)
    {
        var vocab = Vocabulary;
        if (addSpecial && vocab.AddBos) output.Add(vocab.BosId);
        foreach (var f in fragments)
        {
            if (output.Count > maxTokens) return;
            if (f.IsToken) output.Add(f.Token);
            else TokenizeText(text.Substring(f.Offset, f.Length), output, maxTokens);
        }
        if (addSpecial && vocab.AddEos) output.Add(vocab.EosId);
    }

    private struct Symbol
    {
        public int Prev, Next, Start, Length;
    }

    private readonly record struct Bigram(int Left, int Right, int Size);

    private sealed class BigramOrder : IComparer<(int Rank, int Left)>
    {
        public static readonly BigramOrder Instance = new();
        public int Compare((int Rank, int Left) a, (int Rank, int Left) b) =>
            a.Rank != b.Rank ? a.Rank.CompareTo(b.Rank) : a.Left.CompareTo(b.Left);
    }

    /// <summary>Appends the ids of <paramref name="text"/>, word by word, until <paramref name="output"/> holds more than <paramref name="maxTokens"/>.</summary>
    internal void TokenizeText(string text, List<int> output, int maxTokens)
    {
        var vocab = Vocabulary;
        var symbols = new List<Symbol>();
        var queue = new PriorityQueue<Bigram, (int, int)>(BigramOrder.Instance);
        foreach (string word in _pre.Split(text))
        {
            if (output.Count > maxTokens) return; // words tokenize independently: what follows only adds
            if (word.Length == 0) continue;
            if (vocab.IgnoreMerges)
            {
                int whole = vocab.TextToToken(word);
                if (whole != Vocabulary.NoToken) { output.Add(whole); continue; }
            }

            // Byte-encoded words hold one BMP char per byte, so every symbol starts as one char.
            symbols.Clear();
            queue.Clear();
            for (int i = 0; i < word.Length; i++)
                symbols.Add(new Symbol { Start = i, Length = 1, Prev = i - 1, Next = i + 1 == word.Length ? -1 : i + 1 });
            var sym = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(symbols);

            void AddBigram(Span<Symbol> s, int left, int right)
            {
                if (left == -1 || right == -1) return;
                int rank = vocab.MergeRank(word.AsSpan(s[left].Start, s[left].Length), word.AsSpan(s[right].Start, s[right].Length));
                if (rank < 0) return;
                queue.Enqueue(new Bigram(left, right, s[left].Length + s[right].Length), (rank, left));
            }

            for (int i = 1; i < sym.Length; i++) AddBigram(sym, i - 1, i);

            while (queue.TryDequeue(out var bigram, out _))
            {
                ref var left = ref sym[bigram.Left];
                ref var right = ref sym[bigram.Right];
                // llama.cpp compares the texts; a symbol's start never moves, so equal lengths mean equal texts.
                if (left.Length == 0 || right.Length == 0 || left.Length + right.Length != bigram.Size) continue;
                left.Length += right.Length;
                right.Length = 0;
                left.Next = right.Next;
                if (right.Next >= 0) sym[right.Next].Prev = bigram.Left;
                AddBigram(sym, left.Prev, bigram.Left);
                AddBigram(sym, bigram.Left, left.Next);
            }

            for (int i = 0; i != -1; i = sym[i].Next)
            {
                var s = sym[i];
                if (s.Length == 0) continue;
                var piece = word.AsSpan(s.Start, s.Length);
                int token = vocab.TextToToken(piece);
                if (token != Vocabulary.NoToken) { output.Add(token); continue; }
                foreach (char c in piece)
                {
                    int b = vocab.TextToToken([c]);
                    if (b != Vocabulary.NoToken) output.Add(b);
                }
            }
        }
    }
}
