using System.IO.Hashing;
using System.Runtime.InteropServices;
using Tandem.Engine.Model;

namespace Tandem.Engine.KvCache;

/// <summary>
/// Export of a sequence's KV cache as a <see cref="KvPayloadHeader"/>-described payload, and import into
/// another pool (its own block ids and block size), where decoding continues exactly as if the sequence
/// had never moved. Records follow the source's blocks, so a sender can ship each block as soon as it is
/// final; the importer applies records as they arrive and checks the trailer checksum before the
/// sequence becomes usable.
/// </summary>
public static class KvTransfer
{
    /// <summary>
    /// The header of <paramref name="sequence"/>'s payload, its records starting at the block holding position
    /// <paramref name="fromToken"/> (0: the whole sequence; an importer that holds the positions before it asks for the
    /// rest, and drops what the block boundary adds).
    /// </summary>
    public static KvPayloadHeader HeaderFor(KvSequence sequence, ModelFingerprint model, int fromToken = 0) =>
        HeaderFor(sequence, model, sequence.Length, fromToken);

    /// <summary>
    /// The header of a payload of the first <paramref name="tokens"/> tokens of <paramref name="sequence"/>, which may not
    /// hold them all yet (a prompt still being prefilled, whose records are sent as its blocks are computed), its records
    /// starting at the block holding <paramref name="fromToken"/>.
    /// </summary>
    public static KvPayloadHeader HeaderFor(KvSequence sequence, ModelFingerprint model, int tokens, int fromToken)
    {
        var pool = sequence.Pool;
        if (tokens <= 0) throw new ArgumentException("cannot export an empty sequence", nameof(sequence));
        if (tokens > sequence.Capacity) throw new ArgumentOutOfRangeException(nameof(tokens), $"the sequence has room for {sequence.Capacity} tokens, not {tokens}");
        ArgumentOutOfRangeException.ThrowIfNegative(fromToken);
        // Records follow this pool's blocks, so the first starts at a block boundary, and at least one record is sent.
        int first = Math.Min(fromToken, tokens - 1) / pool.BlockSize * pool.BlockSize;
        return new KvPayloadHeader(model, pool.ElementType, pool.BlockSize, pool.Layers, pool.KvDim, tokens, pool.BlockSize, first);
    }

    /// <summary>Writes the payload of <paramref name="sequence"/> (from the block holding <paramref name="fromToken"/> on) to <paramref name="destination"/>.</summary>
    public static long Export(KvSequence sequence, ModelFingerprint model, Stream destination, int fromToken = 0)
    {
        var header = HeaderFor(sequence, model, fromToken);
        Span<byte> head = stackalloc byte[KvPayloadHeader.Size];
        header.Write(head);
        destination.Write(head);
        var hash = new XxHash3();
        for (int r = 0; r < header.RecordCount; r++)
            WriteRecord(sequence, header, r, destination, hash);
        Span<byte> trailer = stackalloc byte[KvPayloadHeader.TrailerSize];
        hash.GetCurrentHash(trailer);
        destination.Write(trailer);
        return header.PayloadBytes;
    }

    public static byte[] Export(KvSequence sequence, ModelFingerprint model)
    {
        var header = HeaderFor(sequence, model);
        var buffer = new MemoryStream(checked((int)header.PayloadBytes));
        Export(sequence, model, buffer);
        return buffer.GetBuffer();
    }

    /// <summary>Writes record <paramref name="record"/> (one source block: every layer's K and V of its tokens).</summary>
    public static void WriteRecord(KvSequence sequence, KvPayloadHeader header, int record, Stream destination, XxHash3 hash)
    {
        var pool = sequence.Pool;
        int tokens = header.TokensInRecord(record);
        int block = sequence.Blocks[header.RecordStart(record) / pool.BlockSize];
        int start = block * pool.BlockSize * pool.KvDim, count = tokens * pool.KvDim;
        for (int l = 0; l < pool.Layers; l++)
        {
            ReadOnlySpan<byte> k, v;
            if (pool.ElementType == KvElementType.F32)
            {
                k = MemoryMarshal.AsBytes(pool.KeysF32![l].AsSpan(start, count));
                v = MemoryMarshal.AsBytes(pool.ValuesF32![l].AsSpan(start, count));
            }
            else
            {
                k = MemoryMarshal.AsBytes(pool.KeysF16![l].AsSpan(start, count));
                v = MemoryMarshal.AsBytes(pool.ValuesF16![l].AsSpan(start, count));
            }
            hash.Append(k);
            destination.Write(k);
            hash.Append(v);
            destination.Write(v);
        }
    }

    public static KvSequence Import(KvBlockPool pool, ModelFingerprint model, ReadOnlySpan<byte> payload)
    {
        unsafe
        {
            fixed (byte* p = payload)
            {
                using var stream = new UnmanagedMemoryStream(p, payload.Length);
                return Import(pool, model, stream);
            }
        }
    }

    /// <summary>
    /// Reads a payload into a new sequence of <paramref name="pool"/>. Throws <see cref="KvPayloadException"/>
    /// for a payload of another model, another KV element type or shape, a bad checksum or truncated
    /// data, and when the pool lacks free blocks; in every case the pool is left as it was.
    /// </summary>
    public static KvSequence Import(KvBlockPool pool, ModelFingerprint model, Stream source)
    {
        var header = ReadHeader(pool, model, source);
        if (header.FirstToken != 0)
            throw new KvPayloadException($"KV payload starts at position {header.FirstToken}: it tops up a sequence that holds the positions before, not a new one");
        var sequence = pool.CreateSequence();
        if (!sequence.TryReserve(header.TokenCount))
            throw new KvPayloadException(
                $"not enough free KV blocks to import {header.TokenCount} tokens: need {pool.BlocksFor(header.TokenCount)}, {pool.FreeBlocks} free");
        try
        {
            ReadRecords(sequence, header, source);
            return sequence;
        }
        catch
        {
            sequence.Release();
            throw;
        }
    }

    /// <summary>
    /// Reads a payload into <paramref name="reserved"/>, a sequence whose blocks the pool's owner already allocated and
    /// which holds the KV of its first <c>reserved.Length</c> positions already (0, or a prefix found in this pool's
    /// cache, whose blocks may be shared and are never written): the payload must start at or before that position,
    /// and its records for positions already held are read for the checksum and dropped. Only the bytes of the blocks
    /// after the held prefix are written, and nothing else touches a reserved sequence, so this may run on another
    /// thread than the one that allocates and frees the pool's blocks (a decode loop goes on stepping while the KV comes
    /// over the network). Throws <see cref="KvPayloadException"/> as <see cref="Import(KvBlockPool, ModelFingerprint, Stream)"/>
    /// does, when the payload holds more tokens than were reserved, or leaves a gap after the held prefix; the sequence's
    /// length is then left as it was, its blocks still allocated, for its owner to free.
    /// </summary>
    public static void ImportInto(KvSequence reserved, ModelFingerprint model, Stream source)
    {
        ArgumentNullException.ThrowIfNull(reserved);
        var header = ReadHeader(reserved.Pool, model, source);
        if (header.TokenCount > reserved.Capacity)
            throw new KvPayloadException($"KV payload holds {header.TokenCount} tokens, room was reserved for {reserved.Capacity}");
        if (header.FirstToken > reserved.Length)
            throw new KvPayloadException($"KV payload starts at position {header.FirstToken}, but only the first {reserved.Length} are held here");
        if (header.TokenCount <= reserved.Length)
            throw new KvPayloadException($"KV payload holds {header.TokenCount} tokens, {reserved.Length} are held here already");
        ReadRecords(reserved, header, source);
    }

    private static KvPayloadHeader ReadHeader(KvBlockPool pool, ModelFingerprint model, Stream source)
    {
        Span<byte> head = stackalloc byte[KvPayloadHeader.Size];
        ReadExactly(source, head, "header");
        var header = KvPayloadHeader.Read(head);
        if (header.Model != model)
            throw new KvPayloadException($"KV payload is for another model (fingerprint {header.Model}, this engine runs {model})");
        if (header.ElementType != pool.ElementType)
            throw new KvPayloadException($"KV payload holds {header.ElementType} keys and values, this pool stores {pool.ElementType}");
        if (header.Layers != pool.Layers || header.KvDim != pool.KvDim)
            throw new KvPayloadException($"KV payload shape {header.Layers} layers × {header.KvDim} does not match the pool's {pool.Layers} × {pool.KvDim}");
        return header;
    }

    /// <summary>
    /// Fills the sequence's blocks after its held positions record by record (positions it holds are read, hashed and
    /// dropped), checks the trailer checksum, and only then sets its length.
    /// </summary>
    private static void ReadRecords(KvSequence sequence, KvPayloadHeader header, Stream source)
    {
        var pool = sequence.Pool;
        var hash = new XxHash3();
        int kvDim = pool.KvDim, bs = pool.BlockSize, held = sequence.Length;
        int elementBytes = pool.ElementType == KvElementType.F32 ? 4 : 2;
        Span<byte> discard = stackalloc byte[DiscardBytes];
        int token = header.FirstToken;
        for (int r = 0; r < header.RecordCount; r++)
        {
            int tokens = header.TokensInRecord(r);
            int skip = Math.Clamp(held - token, 0, tokens);
            for (int l = 0; l < pool.Layers; l++)
                for (int kv = 0; kv < 2; kv++)
                {
                    // Positions this pool holds already (its cached prefix, maybe shared): checked, not written.
                    for (long left = (long)skip * kvDim * elementBytes; left > 0;)
                    {
                        var piece = discard[..(int)Math.Min(left, discard.Length)];
                        ReadExactly(source, piece, $"record {r}");
                        hash.Append(piece);
                        left -= piece.Length;
                    }
                    // Destination slots are contiguous within one of our blocks; a record may span several.
                    for (int t = skip; t < tokens;)
                    {
                        int pos = token + t;
                        int slot = pos % bs, run = Math.Min(tokens - t, bs - slot);
                        int at = (sequence.Blocks[pos / bs] * bs + slot) * kvDim;
                        Span<byte> dst = pool.ElementType == KvElementType.F32
                            ? MemoryMarshal.AsBytes((kv == 0 ? pool.KeysF32! : pool.ValuesF32!)[l].AsSpan(at, run * kvDim))
                            : MemoryMarshal.AsBytes((kv == 0 ? pool.KeysF16! : pool.ValuesF16!)[l].AsSpan(at, run * kvDim));
                        ReadExactly(source, dst, $"record {r}");
                        hash.Append(dst);
                        t += run;
                    }
                }
            token += tokens;
        }
        Span<byte> trailer = stackalloc byte[KvPayloadHeader.TrailerSize];
        ReadExactly(source, trailer, "checksum trailer");
        Span<byte> actual = stackalloc byte[KvPayloadHeader.TrailerSize];
        hash.GetCurrentHash(actual);
        if (!trailer.SequenceEqual(actual)) throw new KvPayloadException("KV payload checksum mismatch (corrupt data)");
        sequence.Length = header.TokenCount;
    }

    private const int DiscardBytes = 1024;

    private static void ReadExactly(Stream source, Span<byte> buffer, string what)
    {
        try
        {
            source.ReadExactly(buffer);
        }
        catch (EndOfStreamException e)
        {
            throw new KvPayloadException($"KV payload truncated in the {what}", e);
        }
    }
}
