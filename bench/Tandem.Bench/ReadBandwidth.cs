using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Tandem.Engine.Kernels;

namespace Tandem.Bench;

/// <summary>
/// The memory read bandwidth a decode step can hope for: a buffer far larger than the last-level cache summed by a
/// <see cref="ThreadTeam"/> of the engine's thread count, the way a batch-1 decode step streams its weights (each
/// thread claims chunks of the buffer, as the matmul jobs claim rows). Decode at batch 1 reads every weight once per
/// token, so weight bytes per token ÷ this bandwidth bounds its tokens/s from above (<see cref="DecodeWeightBytes"/>).
/// The buffer is native memory, freed at the end, so that it does not stay in the bench's resident memory.
/// </summary>
public sealed unsafe class ReadBandwidth : IParallelJob
{
    /// <summary>Writes the buffer's contents before the passes.</summary>
    public delegate void Fill(Span<ulong> words);

    /// <summary>256 MiB: eight times the largest L3 slice of the machines this runs on, so the sum streams from DRAM.</summary>
    public const long DefaultBytes = 256L << 20;

    private const int ChunkBytes = 1 << 20;

    private readonly byte* _buffer;
    // One sum per team member, padded onto separate cache lines; it keeps the loads from being optimised away and
    // lets a test check that every byte was read exactly once.
    private readonly ulong[] _sums;

    private ReadBandwidth(byte* buffer, int threads)
    {
        _buffer = buffer;
        _sums = new ulong[threads * 8];
    }

    /// <summary>
    /// Median read bandwidth in bytes/s over <paramref name="passes"/> timed passes over <paramref name="bytes"/> bytes
    /// with <paramref name="threads"/> threads, after one untimed pass (page faults, thread start-up).
    /// </summary>
    public static double Measure(int threads, long bytes = DefaultBytes, int passes = 7) =>
        Run(threads, bytes, passes, fill: null).BytesPerSecond;

    /// <summary>
    /// The measurement with its checksum: the sum of the buffer's bytes read as 64-bit words, over one pass.
    /// <paramref name="fill"/> writes the buffer's contents (default: every byte 1).
    /// </summary>
    public static (double BytesPerSecond, ulong Checksum) Run(int threads, long bytes, int passes, Fill? fill)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(passes, 1);
        if (bytes < ChunkBytes || bytes % ChunkBytes != 0)
            throw new ArgumentOutOfRangeException(nameof(bytes), bytes, $"the buffer must be a positive multiple of {ChunkBytes} bytes");

        var buffer = (byte*)NativeMemory.AlignedAlloc((nuint)bytes, 64);
        try
        {
            var words = new Span<ulong>(buffer, checked((int)(bytes / sizeof(ulong))));
            if (fill is null) words.Fill(0x0101010101010101UL); else fill(words);
            var job = new ReadBandwidth(buffer, threads);
            using var team = new ThreadTeam(threads);
            int chunks = (int)(bytes / ChunkBytes);
            var seconds = new double[passes];
            ulong checksum = 0;
            for (int pass = -1; pass < passes; pass++)
            {
                Array.Clear(job._sums);
                long t0 = Stopwatch.GetTimestamp();
                team.Run(job, chunks);
                double s = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                if (pass < 0) continue;
                seconds[pass] = s;
                checksum = 0;
                for (int i = 0; i < job._sums.Length; i += 8) checksum += job._sums[i];
            }
            Array.Sort(seconds);
            return (bytes / seconds[passes / 2], checksum);
        }
        finally
        {
            NativeMemory.AlignedFree(buffer);
        }
    }

    public void Execute(int begin, int end, int worker)
    {
        ulong sum = 0;
        for (int chunk = begin; chunk < end; chunk++)
            sum += SumChunk(_buffer + (long)chunk * ChunkBytes);
        _sums[worker * 8] += sum;
    }

    /// <summary>Four independent accumulators, so the adds never wait on each other and only the loads set the pace.</summary>
    private static ulong SumChunk(byte* p)
    {
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<ulong> a = default, b = default, c = default, d = default;
            for (int i = 0; i < ChunkBytes; i += 256)
            {
                a += Vector512.Load((ulong*)(p + i));
                b += Vector512.Load((ulong*)(p + i + 64));
                c += Vector512.Load((ulong*)(p + i + 128));
                d += Vector512.Load((ulong*)(p + i + 192));
            }
            return Vector512.Sum(a + b + c + d);
        }
        if (Vector256.IsHardwareAccelerated)
        {
            Vector256<ulong> a = default, b = default, c = default, d = default;
            for (int i = 0; i < ChunkBytes; i += 128)
            {
                a += Vector256.Load((ulong*)(p + i));
                b += Vector256.Load((ulong*)(p + i + 32));
                c += Vector256.Load((ulong*)(p + i + 64));
                d += Vector256.Load((ulong*)(p + i + 96));
            }
            return Vector256.Sum(a + b + c + d);
        }
        Vector128<ulong> w = default, x = default, y = default, z = default;
        for (int i = 0; i < ChunkBytes; i += 64)
        {
            w += Vector128.Load((ulong*)(p + i));
            x += Vector128.Load((ulong*)(p + i + 16));
            y += Vector128.Load((ulong*)(p + i + 32));
            z += Vector128.Load((ulong*)(p + i + 48));
        }
        return Vector128.Sum(w + x + y + z);
    }
}
