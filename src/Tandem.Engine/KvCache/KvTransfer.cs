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
    public static KvPayloadHeader HeaderFor(KvSequence sequence, ModelFingerprint model) => HeaderFor(sequence, model, sequence.Length);

    /// <summary>
    /// The header of a payload of the first <paramref name="tokens"/> tokens of <paramref name="sequence"/>, which may not
    /// hold them all yet: a prompt still being prefilled, whose records are sent as its blocks are computed.
    /// </summary>
    public static KvPayloadHeader HeaderFor(KvSequence sequence, ModelFingerprint model, int tokens)
    {
        var pool = sequence.Pool;
        if (tokens <= 0) throw new ArgumentException("cannot export an empty sequence", nameof(sequence));
        if (tokens > sequence.Capacity) throw new ArgumentOutOfRangeException(nameof(tokens), $"the sequence has room for {sequence.Capacity} tokens, not {tokens}");
        return new KvPayloadHeader(model, pool.ElementType, pool.BlockSize, pool.Layers, pool.KvDim, tokens, pool.BlockSize);
    }

    /// <summary>Writes the whole payload of <paramref name="sequence"/> to <paramref name="destination"/>.</summary>
    public static long Export(KvSequence sequence, ModelFingerprint model, Stream destination)
    {
        var header = HeaderFor(sequence, model);
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
        int block = sequence.Blocks[record];
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
    /// Reads a payload into <paramref name="reserved"/>, an empty sequence whose blocks the pool's owner already
    /// allocated. Only the bytes of those blocks are written, and nothing else touches a reserved sequence, so this may
    /// run on another thread than the one that allocates and frees the pool's blocks (a decode loop goes on stepping
    /// while the KV comes over the network). Throws <see cref="KvPayloadException"/> as <see cref="Import(KvBlockPool, ModelFingerprint, Stream)"/>
    /// does, and when the payload holds more tokens than were reserved; the sequence is then left empty and still
    /// allocated, for its owner to free.
    /// </summary>
    public static void ImportInto(KvSequence reserved, ModelFingerprint model, Stream source)
    {
        ArgumentNullException.ThrowIfNull(reserved);
        if (reserved.Length != 0) throw new ArgumentException("the sequence to import into must be empty", nameof(reserved));
        var header = ReadHeader(reserved.Pool, model, source);
        if (header.TokenCount > reserved.Capacity)
            throw new KvPayloadException($"KV payload holds {header.TokenCount} tokens, room was reserved for {reserved.Capacity}");
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

    /// <summary>Fills the sequence's blocks record by record, checks the trailer checksum, and only then sets its length.</summary>
    private static void ReadRecords(KvSequence sequence, KvPayloadHeader header, Stream source)
    {
        var pool = sequence.Pool;
        var hash = new XxHash3();
        int kvDim = pool.KvDim, bs = pool.BlockSize;
        int token = 0;
        for (int r = 0; r < header.RecordCount; r++)
        {
            int tokens = header.TokensInRecord(r);
            for (int l = 0; l < pool.Layers; l++)
                for (int kv = 0; kv < 2; kv++)
                {
                    // Destination slots are contiguous within one of our blocks; a record may span several.
                    for (int t = 0; t < tokens;)
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
