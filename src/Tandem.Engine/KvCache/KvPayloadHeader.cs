using System.Buffers.Binary;
using System.IO.Hashing;
using Tandem.Engine.Model;

namespace Tandem.Engine.KvCache;

/// <summary>
/// The self-describing head of a KV payload. Layout (little-endian, <see cref="Size"/> bytes):
/// <code>
///   0  "TKV1" magic            4
///   4  version (1)             u16
///   6  header size             u16
///   8  model fingerprint       16
///  24  KV element type         u8 (0 = F32, 1 = F16), 3 bytes padding
///  28  source block size       u32 (informational: the importer re-blocks to its own size)
///  32  layers                  u32
///  36  kv dim                  u32
///  40  token count             u32 (the sequence's positions 0 .. tokenCount-1)
///  44  record count            u32 (ceil((tokenCount - firstToken) / RecordTokens))
///  48  record tokens           u32 (tokens per record, the last may hold fewer)
///  52  first token             u32 (the records hold positions firstToken .. tokenCount-1; 0 in payloads of
///                                   writers before it, which wrote 0 to this then reserved field)
///  56  header checksum         u64 (XxHash3 of bytes 0..55)
/// </code>
/// A payload that starts after position 0 tops up a sequence whose importer already holds the KV before
/// <c>firstToken</c> (a decode pool that had the prefix cached): only the positions it lacks cross the wire.
/// Then the records, each holding its tokens' keys and values for every layer:
/// <c>for layer: K[tokens × kvDim], V[tokens × kvDim]</c> in the element type, so a payload can be sent and
/// applied record by record. Last, an 8-byte trailer: XxHash3 of all record bytes.
/// </summary>
public readonly record struct KvPayloadHeader(
    ModelFingerprint Model, KvElementType ElementType, int SourceBlockSize, int Layers, int KvDim, int TokenCount, int RecordTokens, int FirstToken = 0)
{
    public const int Size = 64;
    public const int TrailerSize = 8;
    public const uint Magic = 0x31564B54; // "TKV1"
    public const ushort Version = 1;

    public int ElementBytes => ElementType == KvElementType.F16 ? 2 : 4;
    /// <summary>Positions the records hold: FirstToken .. TokenCount-1.</summary>
    public int RecordedTokens => TokenCount - FirstToken;
    public int RecordCount => (RecordedTokens + RecordTokens - 1) / RecordTokens;
    /// <summary>Bytes of keys and values of one token over all layers.</summary>
    public long BytesPerToken => 2L * Layers * KvDim * ElementBytes;
    public long DataBytes => BytesPerToken * RecordedTokens;
    public long PayloadBytes => Size + DataBytes + TrailerSize;
    public int TokensInRecord(int record) => Math.Min(RecordTokens, RecordedTokens - record * RecordTokens);
    /// <summary>The sequence position of the first token of record <paramref name="record"/>.</summary>
    public int RecordStart(int record) => FirstToken + record * RecordTokens;

    public void Write(Span<byte> dst)
    {
        dst[..Size].Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(dst, Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(dst[4..], Version);
        BinaryPrimitives.WriteUInt16LittleEndian(dst[6..], Size);
        BinaryPrimitives.WriteUInt64LittleEndian(dst[8..], Model.High);
        BinaryPrimitives.WriteUInt64LittleEndian(dst[16..], Model.Low);
        dst[24] = (byte)ElementType;
        BinaryPrimitives.WriteInt32LittleEndian(dst[28..], SourceBlockSize);
        BinaryPrimitives.WriteInt32LittleEndian(dst[32..], Layers);
        BinaryPrimitives.WriteInt32LittleEndian(dst[36..], KvDim);
        BinaryPrimitives.WriteInt32LittleEndian(dst[40..], TokenCount);
        BinaryPrimitives.WriteInt32LittleEndian(dst[44..], RecordCount);
        BinaryPrimitives.WriteInt32LittleEndian(dst[48..], RecordTokens);
        BinaryPrimitives.WriteInt32LittleEndian(dst[52..], FirstToken);
        BinaryPrimitives.WriteUInt64LittleEndian(dst[56..], XxHash3.HashToUInt64(dst[..56]));
    }

    /// <summary>Parses and checks a header; throws <see cref="KvPayloadException"/> saying what is wrong.</summary>
    public static KvPayloadHeader Read(ReadOnlySpan<byte> src)
    {
        if (src.Length < Size) throw new KvPayloadException($"KV payload truncated: {src.Length} bytes, a header needs {Size}");
        if (BinaryPrimitives.ReadUInt32LittleEndian(src) != Magic) throw new KvPayloadException("not a Tandem KV payload (bad magic)");
        ushort version = BinaryPrimitives.ReadUInt16LittleEndian(src[4..]);
        if (version != Version) throw new KvPayloadException($"unsupported KV payload version {version} (this build reads {Version})");
        if (BinaryPrimitives.ReadUInt64LittleEndian(src[56..]) != XxHash3.HashToUInt64(src[..56]))
            throw new KvPayloadException("KV payload header checksum mismatch (corrupt header)");
        var h = new KvPayloadHeader(
            new ModelFingerprint(BinaryPrimitives.ReadUInt64LittleEndian(src[8..]), BinaryPrimitives.ReadUInt64LittleEndian(src[16..])),
            (KvElementType)src[24],
            BinaryPrimitives.ReadInt32LittleEndian(src[28..]),
            BinaryPrimitives.ReadInt32LittleEndian(src[32..]),
            BinaryPrimitives.ReadInt32LittleEndian(src[36..]),
            BinaryPrimitives.ReadInt32LittleEndian(src[40..]),
            BinaryPrimitives.ReadInt32LittleEndian(src[48..]),
            BinaryPrimitives.ReadInt32LittleEndian(src[52..]));
        if (h.ElementType is not (KvElementType.F32 or KvElementType.F16) || h.Layers <= 0 || h.KvDim <= 0 || h.TokenCount <= 0 || h.RecordTokens <= 0
            || h.FirstToken < 0 || h.FirstToken >= h.TokenCount
            || BinaryPrimitives.ReadInt32LittleEndian(src[44..]) != h.RecordCount)
            throw new KvPayloadException("KV payload header is inconsistent");
        return h;
    }
}
