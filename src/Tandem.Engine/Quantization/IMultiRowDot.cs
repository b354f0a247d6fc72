namespace Tandem.Engine.Quantization;

/// <summary>
/// A row type that can dot one stored row with four activation rows at once, decoding each weight block
/// once for all four (batched decode and prefill are otherwise bound by re-decoding weights per token).
/// A separate interface rather than a default member of <see cref="IRowType"/> because a static virtual
/// default body cannot call the implementing type's <c>Dot</c>.
/// </summary>
public interface IMultiRowDot : IRowType
{
    /// <summary>
    /// <c>results[k] = Dot(weights, ak, n)</c> for k = 0..3, each BIT-IDENTICAL to that single
    /// <see cref="IRowType.Dot"/> (same float operations in the same order per pair, only interleaved), because
    /// the engine promises batch-invariant results that match ggml's vec_dot kernels.
    /// </summary>
    static abstract void Dot4(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> a0, ReadOnlySpan<byte> a1,
        ReadOnlySpan<byte> a2, ReadOnlySpan<byte> a3, int n, Span<float> results);
}
