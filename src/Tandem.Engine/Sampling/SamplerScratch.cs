namespace Tandem.Engine.Sampling;

/// <summary>
/// The vocabulary-sized working arrays of <see cref="Sampler"/>, one set per thread. Nothing in them outlives a call to
/// <see cref="Sampler.Sample(Span{float}, ReadOnlySpan{int})"/> (the penalty counts are back at zero when it returns), so
/// the samplers of every request that one instance loop serves share its thread's set. A sampler used to own these:
/// up to eight arrays of the vocabulary's size (200 KB each for 50,257 tokens) per request, allocated when the request
/// arrived, so each request waiting in a queue held up to 1.6 MB, and an overloaded server without admission control
/// grew with its queue (docs/experiments/overload.md).
/// </summary>
internal sealed class SamplerScratch
{
    [ThreadStatic] private static SamplerScratch? t_current;

    // The candidate set (ids and logits), top-p's output swapped with it, top-p's heap of positions.
    public int[] Ids = [];
    public float[] Logits = [];
    public int[] SpareIds = [];
    public float[] SpareLogits = [];
    public int[] Heap = [];
    // Probabilities of the candidates; the logits as the model gave them (log-probabilities).
    public float[] Probs = [];
    public float[] RawLogits = [];
    // Occurrence counts of the penalty window: all zero between calls.
    public int[] TokenCounts = [];

    /// <summary>The calling thread's arrays, each at least <paramref name="vocabSize"/> long.</summary>
    public static SamplerScratch For(int vocabSize)
    {
        var s = t_current ??= new SamplerScratch();
        if (s.Ids.Length < vocabSize) s.Grow(vocabSize);
        return s;
    }

    private void Grow(int vocabSize)
    {
        Ids = new int[vocabSize];
        Logits = new float[vocabSize];
        SpareIds = new int[vocabSize];
        SpareLogits = new float[vocabSize];
        Heap = new int[vocabSize];
        Probs = new float[vocabSize];
        RawLogits = new float[vocabSize];
        TokenCounts = new int[vocabSize];
    }
}
