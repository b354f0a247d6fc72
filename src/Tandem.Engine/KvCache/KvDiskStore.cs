using System.Collections.Concurrent;
using Microsoft.Win32.SafeHandles;

namespace Tandem.Engine.KvCache;

/// <summary>
/// The disk tier under the pools' prefix caches (LMCache's and Dynamo's KV block manager's local-disk level): full KV
/// blocks evicted from RAM are written here, one <see cref="KvDiskBlockFile"/> per block named by its block hash, and
/// read back into a pool block when a prefix lookup that missed RAM finds them.
/// <para>
/// One file per block, not an append log: evicting the least recently used block is deleting one file (a log needs
/// compaction to give space back), a corrupted or half-written file spoils only its own block, a write is atomic
/// (written under a temporary name, then renamed), and the index is rebuilt at start-up from the directory listing and
/// each file's 64-byte header. A block is hundreds of KiB for real models, so the per-file cost is small beside it.
/// </para>
/// <para>
/// Bounded by <see cref="CapacityBytes"/> with LRU eviction (a hit makes a block the most recent; at start-up the
/// order is the files' write times). Writes never stall the caller: <see cref="Offer"/> copies the block into one of a
/// bounded set of buffers and queues it for a background writer thread, and drops it (counted) when every buffer is
/// queued. Reads are synchronous into a caller's buffer and verified (checksum, identity, token ids) before any byte
/// reaches a pool: an invalid file is a miss and is deleted. Thread-safe: every instance of a process shares one store.
/// Holds <c>.lock</c> in the directory, so two processes cannot share it.
/// </para>
/// </summary>
public sealed class KvDiskStore : IDisposable
{
    private const string LockFileName = ".lock";
    private const string TempSuffix = ".tmp";

    private readonly Lock _lock = new();
    private readonly Dictionary<UInt128, LinkedListNode<UInt128>> _index = new();
    private readonly LinkedList<UInt128> _lru = new();    // first: least recently used
    private readonly FileStream _lockFile;
    private readonly BlockingCollection<PendingWrite> _queue = new(new ConcurrentQueue<PendingWrite>());
    private readonly ConcurrentBag<byte[]> _buffers = new();
    private readonly int _maxBuffers;
    private readonly Thread _writer;
    private readonly object _flushLock = new(); // Monitor.Wait needs a plain object
    private int _buffersAllocated, _pending;
    private long _bytes, _hits, _misses, _corrupt, _bytesRead, _bytesWritten, _dropped, _evictions, _writeFailures;
    private int _disposed;

    private readonly record struct PendingWrite(UInt128 Hash, byte[] File);

    public string Directory { get; }
    public long CapacityBytes { get; }
    public KvDiskBlockFile Format { get; }
    /// <summary>Files left alone at start-up: another model, block size or KV type, or not whole.</summary>
    public int ForeignFiles { get; }
    /// <summary>Told of a write that failed (disk full, permissions): the block is simply not stored.</summary>
    public Action<string>? OnWarning { get; set; }

    private KvDiskStore(string directory, long capacityBytes, KvDiskBlockFile format, int maxQueuedWrites, FileStream lockFile)
    {
        Directory = directory;
        CapacityBytes = capacityBytes;
        Format = format;
        _maxBuffers = maxQueuedWrites;
        _lockFile = lockFile;
        ForeignFiles = Scan();
        _writer = new Thread(WriteLoop) { IsBackground = true, Name = "tandem-kv-disk-writer" };
        _writer.Start();
    }

    /// <summary>
    /// Opens (creating it if needed) the store in <paramref name="directory"/> for blocks of <paramref name="format"/>,
    /// at most <paramref name="capacityBytes"/> of block files, rebuilding the index from the valid files already there.
    /// Throws <see cref="ArgumentException"/> for a capacity below one block, <see cref="IOException"/> when another
    /// process holds the directory.
    /// </summary>
    public static KvDiskStore Open(string directory, long capacityBytes, KvDiskBlockFile format, int maxQueuedWrites = 64)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxQueuedWrites, 1);
        if (capacityBytes < format.FileBytes)
            throw new ArgumentException(
                $"KV disk size {KvBlockPool.Format(capacityBytes)} is below one block of {format.BlockSize} tokens ({KvBlockPool.Format(format.FileBytes)} for this model with {format.ElementType} KV)");
        directory = Path.GetFullPath(directory);
        System.IO.Directory.CreateDirectory(directory);
        FileStream lockFile;
        try
        {
            lockFile = new FileStream(Path.Combine(directory, LockFileName), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e)
        {
            throw new IOException($"the KV disk directory {directory} is in use by another process (one directory per process)", e);
        }
        try
        {
            return new KvDiskStore(directory, capacityBytes, format, Math.Max(1, Math.Min(maxQueuedWrites, (int)(capacityBytes / format.FileBytes))), lockFile);
        }
        catch
        {
            lockFile.Dispose();
            throw;
        }
    }

    /// <summary>Indexes the valid block files of this format, oldest write first; drops leftovers of interrupted writes.</summary>
    private int Scan()
    {
        int foreign = 0;
        var found = new List<(UInt128 Hash, DateTime Written)>();
        Span<byte> header = stackalloc byte[KvDiskBlockFile.HeaderSize];
        foreach (var path in System.IO.Directory.EnumerateFiles(Directory))
        {
            string name = Path.GetFileName(path);
            if (name.EndsWith(TempSuffix, StringComparison.Ordinal)) { TryDelete(path); continue; }
            if (!KvDiskBlockFile.TryParseName(name, out var hash)) continue;
            try
            {
                using var h = File.OpenHandle(path);
                if (RandomAccess.GetLength(h) == Format.FileBytes && RandomAccess.Read(h, header, 0) == header.Length && Format.HeaderMatches(header, hash))
                    found.Add((hash, File.GetLastWriteTimeUtc(path)));
                else foreign++;
            }
            catch (IOException) { foreign++; }
            catch (UnauthorizedAccessException) { foreign++; }
        }
        found.Sort((a, b) => a.Written.CompareTo(b.Written));
        foreach (var (hash, _) in found)
        {
            _index[hash] = _lru.AddLast(hash);
            _bytes += Format.FileBytes;
        }
        // The capacity may have shrunk since the files were written.
        foreach (var victim in EvictFor(0)) TryDelete(PathOf(victim));
        return foreign;
    }

    public bool Contains(UInt128 hash)
    {
        lock (_lock) return _index.ContainsKey(hash);
    }

    /// <summary>Whether a prefix that left RAM continues here: <see cref="Contains"/>, counting a miss when it does not.</summary>
    public bool Lookup(UInt128 hash)
    {
        lock (_lock)
        {
            if (_index.ContainsKey(hash)) return true;
            _misses++;
            return false;
        }
    }

    /// <summary>
    /// Reads the block under <paramref name="hash"/> into <paramref name="file"/> (at least <see cref="KvDiskBlockFile.FileBytes"/>)
    /// if it is stored, whole, of this format and holds exactly <paramref name="tokens"/>; false (a miss) otherwise, and
    /// an invalid file is deleted. Allocates only the file handle.
    /// </summary>
    public bool TryRead(UInt128 hash, ReadOnlySpan<int> tokens, Span<byte> file)
    {
        file = file[..Format.FileBytes];
        LinkedListNode<UInt128>? seen;
        lock (_lock)
        {
            if (!_index.TryGetValue(hash, out seen)) { _misses++; return false; }
        }
        bool valid, vanished = false;
        try
        {
            using var h = File.OpenHandle(PathOf(hash));
            valid = RandomAccess.GetLength(h) == file.Length && ReadAll(h, file) && Format.IsValid(file, hash, tokens);
        }
        catch (FileNotFoundException)
        {
            valid = false;
            vanished = true; // evicted (and deleted) since the index was read: a plain miss
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            valid = false; // unreadable
        }
        bool drop = false;
        lock (_lock)
        {
            if (!valid)
            {
                _misses++;
                // Only the entry this read looked at, and only for a bad file: the writer may have stored the block again
                // since (a new entry, a new file), which must not be taken out because an older file went away.
                drop = !vanished && _index.TryGetValue(hash, out var now) && now == seen;
                if (drop)
                {
                    _corrupt++;
                    _index.Remove(hash);
                    _lru.Remove(seen!);
                    _bytes -= Format.FileBytes;
                }
            }
            else
            {
                _hits++;
                _bytesRead += file.Length;
                if (_index.TryGetValue(hash, out var node)) { _lru.Remove(node); _lru.AddLast(node); }
            }
        }
        if (drop) TryDelete(PathOf(hash));
        return valid;
    }

    private static bool ReadAll(SafeFileHandle h, Span<byte> buffer)
    {
        for (int done = 0; done < buffer.Length;)
        {
            int n = RandomAccess.Read(h, buffer[done..], done);
            if (n <= 0) return false;
            done += n;
        }
        return true;
    }

    /// <summary>
    /// Queues block <paramref name="block"/> of <paramref name="pool"/> (about to be reused) for writing, copying it now.
    /// Already stored: it only becomes the most recent. Every write buffer queued: dropped (false) unless
    /// <paramref name="wait"/> (shutdown, where waiting is fine). Call on the pool's owner thread.
    /// </summary>
    public bool Offer(KvBlockPool pool, int block, UInt128 hash, ReadOnlySpan<int> tokens, bool wait = false)
    {
        if (Volatile.Read(ref _disposed) != 0) return false;
        lock (_lock)
        {
            if (_index.TryGetValue(hash, out var node)) { _lru.Remove(node); _lru.AddLast(node); return true; }
        }
        byte[]? buffer;
        while (!_buffers.TryTake(out buffer))
        {
            if (Interlocked.Increment(ref _buffersAllocated) <= _maxBuffers) { buffer = new byte[Format.FileBytes]; break; }
            Interlocked.Decrement(ref _buffersAllocated);
            if (!wait) { Interlocked.Increment(ref _dropped); return false; }
            Thread.Sleep(1);
        }
        Format.Capture(pool, block, hash, tokens, buffer);
        lock (_flushLock) _pending++;
        _queue.Add(new PendingWrite(hash, buffer));
        return true;
    }

    private void WriteLoop()
    {
        foreach (var w in _queue.GetConsumingEnumerable())
        {
            try
            {
                Write(w.Hash, w.File);
            }
            finally
            {
                _buffers.Add(w.File);
                lock (_flushLock)
                    if (--_pending == 0) Monitor.PulseAll(_flushLock);
            }
        }
    }

    private void Write(UInt128 hash, byte[] file)
    {
        List<UInt128> victims;
        lock (_lock)
        {
            if (_index.ContainsKey(hash)) return;
            victims = EvictFor(file.Length);
        }
        foreach (var v in victims) TryDelete(PathOf(v));
        Format.Seal(file);
        string path = PathOf(hash), temp = path + TempSuffix;
        try
        {
            using (var h = File.OpenHandle(temp, FileMode.Create, FileAccess.Write, FileShare.None, FileOptions.None, file.Length))
                RandomAccess.Write(h, file, 0);
            File.Move(temp, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Interlocked.Increment(ref _writeFailures);
            TryDelete(temp);
            OnWarning?.Invoke($"KV disk tier: writing a block to {Directory} failed: {e.Message}");
            return;
        }
        lock (_lock)
        {
            if (_index.ContainsKey(hash)) return;
            _index[hash] = _lru.AddLast(hash);
            _bytes += file.Length;
            _bytesWritten += file.Length;
        }
    }

    /// <summary>Takes least recently used blocks out of the index until <paramref name="incoming"/> more bytes fit; the caller deletes their files.</summary>
    private List<UInt128> EvictFor(long incoming)
    {
        var victims = new List<UInt128>();
        while (_bytes + incoming > CapacityBytes && _lru.First is { } oldest)
        {
            _lru.RemoveFirst();
            _index.Remove(oldest.Value);
            _bytes -= Format.FileBytes;
            _evictions++;
            victims.Add(oldest.Value);
        }
        return victims;
    }

    /// <summary>Waits until every queued write is on disk (tests; shutdown).</summary>
    public void Flush()
    {
        lock (_flushLock)
            while (_pending > 0) Monitor.Wait(_flushLock);
    }

    public KvDiskStats Stats()
    {
        lock (_lock)
            return new KvDiskStats(_index.Count, _bytes, CapacityBytes, _hits, _misses, _corrupt, _bytesRead, _bytesWritten,
                Interlocked.Read(ref _dropped), _evictions, Interlocked.Read(ref _writeFailures));
    }

    public string PathOf(UInt128 hash) => Path.Combine(Directory, KvDiskBlockFile.FileName(hash));

    private static void TryDelete(string path)
    {
        try { File.Delete(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    /// <summary>Writes what is queued, stops the writer and lets another process open the directory.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _queue.CompleteAdding();
        _writer.Join();
        _queue.Dispose();
        _lockFile.Dispose();
    }
}
