namespace Tandem.Server.Cluster;

/// <summary>
/// This host's shared-memory directory (/dev/shm, a tmpfs) and its host id: a random id kept in a file there, made by
/// the first worker that looks and read by every later one. Two workers have the same id exactly when they see the
/// same /dev/shm (one machine, or one pod), which is when a file one writes is memory the other can map: containers
/// with their own /dev/shm get their own id, even on one machine. Null where there is no such directory.
/// </summary>
internal static class SharedMemoryHost
{
    public const string Directory = "/dev/shm";
    private const string IdFile = "tandem-host-id";

    private static readonly Lazy<string?> _id = new(ReadOrCreateId);

    public static string? Id => _id.Value;

    private static string? ReadOrCreateId()
    {
        if (!OperatingSystem.IsLinux() || !System.IO.Directory.Exists(Directory)) return null;
        string path = Path.Combine(Directory, IdFile);
        for (int attempt = 0; attempt < 3; attempt++)
        {
            try
            {
                string id = File.ReadAllText(path).Trim();
                if (id.Length > 0) return id;
            }
            catch (FileNotFoundException)
            {
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return null;
            }
            // Written whole under another name, then linked into place only if no other worker got there first.
            string mine = Path.Combine(Directory, $"{IdFile}.{Environment.ProcessId}.{Guid.NewGuid():N}");
            try
            {
                File.WriteAllText(mine, Guid.NewGuid().ToString("N"));
                File.Move(mine, path, overwrite: false);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Another worker's id is in place (read on the next attempt), or the directory is not writable.
            }
            finally
            {
                File.Delete(mine);
            }
        }
        return null;
    }
}
