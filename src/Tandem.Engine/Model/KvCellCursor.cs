namespace Tandem.Engine.Model;

/// <summary>
/// A sequence's KV cells in position order, as offsets into a layer's key or value array: walks the block
/// table block by block, so attention's loops over positions pay no division per cell (blocks[j / bs] and
/// j % bs, with a block size only known at run time, are two integer divisions per cell, head and token).
/// </summary>
internal struct KvCellCursor(int[] blocks, int blockSize, int cellFloats, int offset)
{
    private int _block = -1;
    private int _left;
    private int _at;

    /// <summary>The offset of the next cell's first element (plus <c>offset</c>, the head's place in the cell).</summary>
    public int Next()
    {
        if (_left == 0)
        {
            _block++;
            _left = blockSize;
            _at = blocks[_block] * blockSize * cellFloats + offset;
        }
        _left--;
        int at = _at;
        _at += cellFloats;
        return at;
    }
}
