namespace Tandem.Engine.Kernels;

/// <summary>
/// Where a team member's next chunk of a matrix × one-token job probably starts, so that the last row group of
/// this chunk can fetch its first rows (<see cref="GemvRows"/>). Without it every hand-out started cold: at the
/// TinyLlama-1.1B shape a hand-out is 64 rows, eight groups of the Q8_0 kernel, and the first group, never
/// prefetched, took nearly four groups' time (GemvRows alone on one thread, 32000 × 2048 Q8_0 out of cache in 64-row
/// pieces: 1.13–1.20 ns per 32 products against 0.82–0.87 for the whole range at once and 0.84–0.88 with the next
/// piece's first group fetched; docs/performance.md, s11-q8gemv). The team's next unclaimed item is a guess, not a claim: another member may take it
/// first, and then the fetch was a few kilobytes of rows that member reads anyway. Only prefetches follow from it,
/// so results never depend on it.
/// </summary>
internal readonly struct NextChunkHint
{
    private readonly ThreadTeam? _team;
    private readonly int _rowsPerItem;

    /// <param name="team">The team running the job (none: no hint).</param>
    /// <param name="rowsPerItem">Matrix rows per item of the job (row tiles: <see cref="RowTiles.TileRows"/>).</param>
    public NextChunkHint(ThreadTeam team, int rowsPerItem)
    {
        _team = team;
        _rowsPerItem = rowsPerItem;
    }

    /// <summary>The first row of the next chunk a member would claim now, or -1 when none is left (or no team runs the job).</summary>
    public int FirstRow(int rows)
    {
        if (_team == null) return -1;
        long row = (long)_team.PeekNextItem() * _rowsPerItem;
        return row >= 0 && row < rows ? (int)row : -1;
    }
}
