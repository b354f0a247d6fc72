using System.Numerics.Tensors;

namespace Tandem.Engine.Sampling;

/// <summary>Log-softmax pieces for reporting token log-probabilities without materialising the whole log-softmax.</summary>
public static class LogProbabilities
{
    /// <summary>
    /// log(sum(exp(logits))), shifted by the maximum so that no exponent overflows. <paramref name="scratch"/>
    /// (at least as long as <paramref name="logits"/>) holds the exponentials, so the call allocates nothing.
    /// </summary>
    public static float LogSumExp(ReadOnlySpan<float> logits, Span<float> scratch)
    {
        if (logits.IsEmpty)
            throw new ArgumentException("logits must not be empty.", nameof(logits));
        if (scratch.Length < logits.Length)
            throw new ArgumentException($"scratch must hold at least {logits.Length} values; it holds {scratch.Length}.", nameof(scratch));
        Span<float> exps = scratch[..logits.Length];
        float max = TensorPrimitives.Max(logits);
        if (float.IsInfinity(max))
            return max;
        TensorPrimitives.Subtract(logits, max, exps);
        TensorPrimitives.Exp(exps, exps);
        return max + MathF.Log(TensorPrimitives.Sum(exps));
    }

    /// <summary>
    /// Writes the <c>min(destination.Length, logits.Length)</c> most likely tokens, most likely first (ties: lower id
    /// first), as <c>logit - logSumExp</c>; returns how many were written. Selection keeps a min-heap of the best
    /// seen so far inside <paramref name="destination"/>, so it is one pass over the logits and allocates nothing.
    /// </summary>
    public static int SelectTop(ReadOnlySpan<float> logits, float logSumExp, Span<TokenLogProb> destination)
    {
        int n = Math.Min(destination.Length, logits.Length);
        if (n == 0)
            return 0;
        Span<TokenLogProb> heap = destination[..n];
        // While selecting, LogProb holds the raw logit; the heap root is the worst kept entry.
        for (int i = 0; i < n; i++)
            heap[i] = new TokenLogProb(i, logits[i]);
        for (int i = n / 2 - 1; i >= 0; i--)
            SiftDownWorstFirst(heap, i, n);
        for (int i = n; i < logits.Length; i++)
        {
            // Ids arrive in increasing order, so an equal logit loses to the kept (lower) id: strict > suffices.
            if (logits[i] > heap[0].LogProb)
            {
                heap[0] = new TokenLogProb(i, logits[i]);
                SiftDownWorstFirst(heap, 0, n);
            }
        }
        // Heap sort: moving the worst to the end each time leaves the best first.
        for (int end = n - 1; end > 0; end--)
        {
            (heap[0], heap[end]) = (heap[end], heap[0]);
            SiftDownWorstFirst(heap, 0, end);
        }
        for (int i = 0; i < n; i++)
            heap[i] = new TokenLogProb(heap[i].TokenId, heap[i].LogProb - logSumExp);
        return n;
    }

    private static bool IsWorse(in TokenLogProb a, in TokenLogProb b) =>
        a.LogProb < b.LogProb || (a.LogProb == b.LogProb && a.TokenId > b.TokenId);

    private static void SiftDownWorstFirst(Span<TokenLogProb> heap, int i, int n)
    {
        while (true)
        {
            int worst = i, left = 2 * i + 1, right = left + 1;
            if (left < n && IsWorse(heap[left], heap[worst])) worst = left;
            if (right < n && IsWorse(heap[right], heap[worst])) worst = right;
            if (worst == i)
                return;
            (heap[i], heap[worst]) = (heap[worst], heap[i]);
            i = worst;
        }
    }
}
