using System.Buffers.Binary;
using System.Globalization;
using System.IO.Hashing;
using System.Runtime.InteropServices;

namespace Tandem.Engine.KvCache;

/// <summary>
/// One full KV block on disk (the disk tier's unit: <see cref="KvDiskStore"/>), in a file named by its block hash.
/// Layout (little-endian):
/// <code>
///   0  "TKVD" magic             4
///   4  version (1)              u16
///   6  header size (64)         u16
///   8  chain root               16 (KvPrefixHash.Root: model fingerprint, block size, KV type)
///  24  block hash               16 (must equal the file name)
///  40  KV element type          u8, 3 bytes padding
///  44  block size               u32
///  48  layers                   u32
///  52  kv dim                   u32
///  56  reserved                 8
///  64  token ids                blockSize × i32
///      keys and values          for layer: K[blockSize × kvDim], V[blockSize × kvDim] in the element type
///      checksum                 u64 XxHash3 of every byte before it
/// </code>
/// The checksum covers header, token ids and data, so a truncated, corrupted or foreign file is a miss, never KV
/// read into a pool. The token ids are compared on a hit like the RAM cache compares them.
/// </summary>
public readonly record struct KvDiskBlockFile(UInt128 Root, KvElementType ElementType, int BlockSize, int Layers, int KvDim)
{
    public const int HeaderSize = 64;
    public const int TrailerSize = 8;
    public const uint Magic = 0x44564B54; // "TKVD"
    public const ushort Version = 1;
    public const string Extension = ".kvblock";

    public static KvDiskBlockFile For(KvBlockPool pool) =>
        new(pool.PrefixHash?.Root ?? throw new InvalidOperationException("the KV disk tier needs prefix caching"), pool.ElementType, pool.BlockSize, pool.Layers, pool.KvDim);

    public int ElementBytes => ElementType == KvElementType.F16 ? 2 : 4;
    /// <summary>Bytes of one layer's keys (or values) of a block.</summary>
    public int PlaneBytes => BlockSize * KvDim * ElementBytes;
    public int TokensOffset => HeaderSize;
    public int DataOffset => HeaderSize + 4 * BlockSize;
    public int DataBytes => 2 * Layers * PlaneBytes;
    /// <summary>Bytes of the whole file.</summary>
    public int FileBytes => DataOffset + DataBytes + TrailerSize;

    public static string FileName(UInt128 hash) => hash.ToString("x32", CultureInfo.InvariantCulture) + Extension;

    /// <summary>The block hash a file name stands for; false for a name the store did not write.</summary>
    public static bool TryParseName(string fileName, out UInt128 hash)
    {
        hash = default;
        return fileName.Length == 32 + Extension.Length && fileName.EndsWith(Extension, StringComparison.Ordinal)
            && UInt128.TryParse(fileName.AsSpan(0, 32), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out hash);
    }

    /// <summary>
    /// Fills <paramref name="file"/> (<see cref="FileBytes"/> long) with block <paramref name="block"/> of
    /// <paramref name="pool"/>: header, <paramref name="tokens"/>, every layer's K and V, no checksum yet (see <see cref="Seal"/>).
    /// </summary>
    public void Capture(KvBlockPool pool, int block, UInt128 hash, ReadOnlySpan<int> tokens, Span<byte> file)
    {
        WriteHeader(file, hash);
        MemoryMarshal.AsBytes(tokens).CopyTo(file[TokensOffset..]);
        int at = DataOffset, start = block * BlockSize * KvDim, count = BlockSize * KvDim;
        for (int l = 0; l < Layers; l++)
        {
            Plane(pool, l, keys: true, start, count).CopyTo(file[at..]);
            at += PlaneBytes;
            Plane(pool, l, keys: false, start, count).CopyTo(file[at..]);
            at += PlaneBytes;
        }
    }

    /// <summary>Writes the checksum of everything before it (off the serving loop: the writer thread does this).</summary>
    public void Seal(Span<byte> file) =>
        BinaryPrimitives.WriteUInt64LittleEndian(file[(FileBytes - TrailerSize)..], XxHash3.HashToUInt64(file[..(FileBytes - TrailerSize)]));

    /// <summary>
    /// Whether <paramref name="file"/> is a whole, uncorrupted block of this identity under <paramref name="hash"/>
    /// holding <paramref name="tokens"/>: header fields, token ids and checksum.
    /// </summary>
    public bool IsValid(ReadOnlySpan<byte> file, UInt128 hash, ReadOnlySpan<int> tokens) =>
        file.Length == FileBytes && HeaderMatches(file, hash)
        && MemoryMarshal.AsBytes(tokens).SequenceEqual(file.Slice(TokensOffset, 4 * BlockSize))
        && BinaryPrimitives.ReadUInt64LittleEndian(file[(FileBytes - TrailerSize)..]) == XxHash3.HashToUInt64(file[..(FileBytes - TrailerSize)]);

    /// <summary>Header checks alone (the start-up scan reads no more): magic, version, this chain's root and shape, and the hash named.</summary>
    public bool HeaderMatches(ReadOnlySpan<byte> header, UInt128 hash)
    {
        if (header.Length < HeaderSize) return false;
        Span<byte> expected = stackalloc byte[HeaderSize];
        WriteHeader(expected, hash);
        return header[..HeaderSize].SequenceEqual(expected);
    }

    /// <summary>Copies a valid file's keys and values into block <paramref name="block"/> of <paramref name="pool"/>.</summary>
    public void Restore(ReadOnlySpan<byte> file, KvBlockPool pool, int block)
    {
        int at = DataOffset, start = block * BlockSize * KvDim, count = BlockSize * KvDim;
        for (int l = 0; l < Layers; l++)
        {
            file.Slice(at, PlaneBytes).CopyTo(Plane(pool, l, keys: true, start, count));
            at += PlaneBytes;
            file.Slice(at, PlaneBytes).CopyTo(Plane(pool, l, keys: false, start, count));
            at += PlaneBytes;
        }
    }

    private void WriteHeader(Span<byte> dst, UInt128 hash)
    {
        dst[..HeaderSize].Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(dst, Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(dst[4..], Version);
        BinaryPrimitives.WriteUInt16LittleEndian(dst[6..], HeaderSize);
        BinaryPrimitives.WriteUInt128LittleEndian(dst[8..], Root);
        BinaryPrimitives.WriteUInt128LittleEndian(dst[24..], hash);
        dst[40] = (byte)ElementType;
        BinaryPrimitives.WriteInt32LittleEndian(dst[44..], BlockSize);
        BinaryPrimitives.WriteInt32LittleEndian(dst[48..], Layers);
        BinaryPrimitives.WriteInt32LittleEndian(dst[52..], KvDim);
    }

    private static Span<byte> Plane(KvBlockPool pool, int layer, bool keys, int start, int count) =>
        pool.ElementType == KvElementType.F32
            ? MemoryMarshal.AsBytes((keys ? pool.KeysF32! : pool.ValuesF32!)[layer].AsSpan(start, count))
            : MemoryMarshal.AsBytes((keys ? pool.KeysF16! : pool.ValuesF16!)[layer].AsSpan(start, count));
}
