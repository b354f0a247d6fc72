namespace Tandem.Engine.Quantization;

/// <summary>
/// A register-tiled micro-kernel over a token-pair panel: four weight rows (they may repeat, for a ragged last
/// tile) against up to <see cref="MaxPairs"/> token pairs from pair <c>pair</c>, writing row r, pair-token k to
/// <c>results[r * 8 + k]</c>. Each result must be bit-identical to the weight type's single-pair <c>Dot</c>.
/// A type, so that the row-tile loop (<c>RowTiles</c>) is compiled once per kernel with the call inlined.
/// </summary>
internal unsafe interface ITileKernel<TPanel> where TPanel : struct, IActivationPanel
{
    /// <summary>Token pairs one call can take.</summary>
    static abstract int MaxPairs { get; }

    static abstract void Run(int pairs, byte* w0, byte* w1, byte* w2, byte* w3, in TPanel panel, int pair, float* results);
}
