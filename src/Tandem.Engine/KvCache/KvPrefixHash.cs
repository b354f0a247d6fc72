using System.Buffers;
using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Text;
using Tandem.Engine.Model;

namespace Tandem.Engine.KvCache;

/// <summary>
/// The identity of a full KV block for prefix caching, as vLLM's block hash: a 128-bit XxHash128 over the block's
/// token ids (little-endian int32) chained to the hash of the block before it, so equal hashes mean equal whole
/// prefixes. The chain starts at a root hash of the model fingerprint, block size and KV element type: KV computed by
/// other weights, in blocks of another size or stored in another type never matches. Stable across processes and
/// restarts (unlike <see cref="HashCode"/>), so instances can report cached blocks to a controller and a disk tier can
/// name files by it. The pool still compares token ids on a hit; the hash only finds the candidate. Thread-safe.
/// </summary>
public sealed class KvPrefixHash
{
    // Parent hash and token ids hashed in one call from the stack: no state, so one instance serves every thread
    // (an instance loop indexing blocks, a controller matching prompts) and nothing is allocated.
    private const int MaxStackBytes = 4096;

    public KvPrefixHash(ModelFingerprint model, int blockSize, KvElementType elementType)
        : this(RootOf(model, blockSize, elementType), blockSize)
    {
    }

    /// <summary>The chain of a pool known by its root (<see cref="RootOf"/>, as a cluster worker reports it) and block size.</summary>
    public KvPrefixHash(UInt128 root, int blockSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(blockSize, 1);
        Root = root;
        BlockSize = blockSize;
    }

    /// <summary>The parent hash of a sequence's first block.</summary>
    public UInt128 Root { get; }
    public int BlockSize { get; }

    public static UInt128 RootOf(ModelFingerprint model, int blockSize, KvElementType elementType) =>
        XxHash128.HashToUInt128(Encoding.UTF8.GetBytes($"tandem-kv-prefix/1|{model}|{blockSize}|{elementType}"));

    /// <summary>The hash of a full block of <paramref name="tokens"/> (exactly BlockSize ids) following <paramref name="parent"/>.</summary>
    public UInt128 Next(UInt128 parent, ReadOnlySpan<int> tokens)
    {
        if (tokens.Length != BlockSize) throw new ArgumentException($"a block hash covers exactly {BlockSize} tokens; got {tokens.Length}", nameof(tokens));
        int bytes = 16 + 4 * tokens.Length;
        byte[]? rented = bytes > MaxStackBytes ? ArrayPool<byte>.Shared.Rent(bytes) : null;
        Span<byte> buffer = rented is null ? stackalloc byte[bytes] : rented.AsSpan(0, bytes);
        BinaryPrimitives.WriteUInt128LittleEndian(buffer, parent);
        if (BitConverter.IsLittleEndian) MemoryMarshal.AsBytes(tokens).CopyTo(buffer[16..]);
        else
            for (int i = 0; i < tokens.Length; i++) BinaryPrimitives.WriteInt32LittleEndian(buffer[(16 + 4 * i)..], tokens[i]);
        var hash = XxHash128.HashToUInt128(buffer);
        if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
        return hash;
    }

    /// <summary>
    /// Hashes of the full blocks of <paramref name="tokens"/>, in order, into <paramref name="destination"/> (up to its
    /// length); returns how many were written. For callers outside the pool (a router matching prompts).
    /// </summary>
    public int Chain(ReadOnlySpan<int> tokens, Span<UInt128> destination)
    {
        int n = Math.Min(tokens.Length / BlockSize, destination.Length);
        var parent = Root;
        for (int b = 0; b < n; b++) destination[b] = parent = Next(parent, tokens.Slice(b * BlockSize, BlockSize));
        return n;
    }
}
