using System.IO.MemoryMappedFiles;
using Tandem.Engine.KvCache;
using Tandem.Engine.Model;

namespace Tandem.Server.Cluster;

/// <summary>
/// Held KV as a file in the host's shared memory (<see cref="SharedMemoryHost.Directory"/>): the prefill worker writes
/// the engine's checksummed transfer payload there (ShareKv) and keeps the file with the KV; the decode worker maps it
/// and imports from the mapping, so the bytes cross no socket. Disposing deletes the file (when the KV is freed: the
/// decode side confirmed the import, or the lease ran out).
/// </summary>
internal sealed class SharedKvFile : IDisposable
{
    private const string Prefix = "tandem-kv-";

    private SharedKvFile(string path, long bytes)
    {
        Path = path;
        Bytes = bytes;
    }

    public string Path { get; }
    public long Bytes { get; }

    /// <summary>
    /// Writes <paramref name="sequence"/>'s payload (from the block holding <paramref name="fromToken"/> on) to a new file
    /// readable by this user only. Throws <see cref="IOException"/> (e.g. no room).
    /// </summary>
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // only where SharedMemoryHost.Id is not null: Linux
    public static SharedKvFile Write(KvSequence sequence, ModelFingerprint model, int fromToken = 0)
    {
        string path = System.IO.Path.Combine(SharedMemoryHost.Directory, $"{Prefix}{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            using var file = new FileStream(path, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                BufferSize = 1 << 16,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            });
            return new SharedKvFile(path, KvTransfer.Export(sequence, model, file, fromToken));
        }
        catch
        {
            File.Delete(path);
            throw;
        }
    }

    /// <summary>Whether <paramref name="path"/> names a KV file in the shared-memory directory (a peer names nothing else).</summary>
    public static bool IsKvFile(string path) =>
        System.IO.Path.IsPathFullyQualified(path)
        && System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path)) == SharedMemoryHost.Directory
        && System.IO.Path.GetFileName(path).StartsWith(Prefix, StringComparison.Ordinal);

    /// <summary>
    /// Maps the file and imports its payload into <paramref name="reserved"/> (checksum verified, as from a stream); returns its bytes.
    /// Throws <see cref="KvPayloadException"/> for a corrupt or truncated payload, <see cref="IOException"/> or
    /// <see cref="UnauthorizedAccessException"/> when the file cannot be mapped.
    /// </summary>
    public static long ImportInto(string path, KvSequence reserved, ModelFingerprint model)
    {
        long length = new FileInfo(path).Length;
        if (length == 0) throw new KvPayloadException($"KV payload truncated: {path} is empty");
        using var map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        using var view = map.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
        unsafe
        {
            byte* start = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref start);
            try
            {
                // Exactly the file's bytes (a view is whole pages): a truncated file reads short, as a cut stream does.
                using var payload = new UnmanagedMemoryStream(start + view.PointerOffset, length);
                KvTransfer.ImportInto(reserved, model, payload);
                return payload.Position;
            }
            finally
            {
                view.SafeMemoryMappedViewHandle.ReleasePointer();
            }
        }
    }

    /// <summary>Deletes KV files whose writer (the process id in the name) is no longer running: a prefill worker killed before freeing them.</summary>
    public static void DeleteOrphans()
    {
        if (SharedMemoryHost.Id == null) return;
        foreach (string path in System.IO.Directory.EnumerateFiles(SharedMemoryHost.Directory, Prefix + "*"))
        {
            string name = System.IO.Path.GetFileName(path)[Prefix.Length..];
            int dash = name.IndexOf('-');
            if (dash <= 0 || !int.TryParse(name[..dash], out int pid) || System.IO.Directory.Exists($"/proc/{pid}")) continue;
            try { File.Delete(path); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { } // another user's, or just gone
        }
    }

    public void Dispose() => File.Delete(Path);
}
