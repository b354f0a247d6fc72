namespace Tandem.Hub;

/// <summary>
/// One repository's folder in the Hugging Face hub cache, laid out as huggingface_hub lays it out:
/// <c>models--ORG--REPO/blobs/ETAG</c> holds each file's bytes once, <c>snapshots/COMMIT/PATH</c> is a relative
/// symlink to its blob, and <c>refs/REVISION</c> holds the commit a branch pointed at when it was last resolved.
/// </summary>
public sealed class HubCache(string cacheDirectory, string repoId)
{
    public string RepoDirectory { get; } = Path.Combine(cacheDirectory, "models--" + repoId.Replace("/", "--", StringComparison.Ordinal));

    public string BlobPath(string etag) => Path.Combine(RepoDirectory, "blobs", etag);

    /// <summary>Where a download in progress is kept (huggingface_hub's name too, so either tool resumes the other's).</summary>
    public string IncompletePath(string etag) => BlobPath(etag) + ".incomplete";

    public string SnapshotDirectory(string commit) => Path.Combine(RepoDirectory, "snapshots", commit);

    public string SnapshotPath(string commit, string filePath) => Path.Combine(SnapshotDirectory(commit), filePath.Replace('/', Path.DirectorySeparatorChar));

    private string RefPath(string revision) => Path.Combine(RepoDirectory, "refs", revision);

    /// <summary>The commit <paramref name="revision"/> resolved to last time, or null when it never was (or is itself a commit).</summary>
    public string? ReadRef(string revision) => File.Exists(RefPath(revision)) ? File.ReadAllText(RefPath(revision)).Trim() : null;

    public void WriteRef(string revision, string commit)
    {
        if (revision == commit) return;
        Directory.CreateDirectory(Path.GetDirectoryName(RefPath(revision))!);
        File.WriteAllText(RefPath(revision), commit);
    }

    /// <summary>Points <c>snapshots/COMMIT/PATH</c> at the blob (relative, so the cache can move); replaces what was there.</summary>
    public string LinkSnapshot(string commit, string filePath, string etag)
    {
        string link = SnapshotPath(commit, filePath);
        Directory.CreateDirectory(Path.GetDirectoryName(link)!);
        string target = Path.GetRelativePath(Path.GetDirectoryName(link)!, BlobPath(etag));
        if (File.Exists(link) || new FileInfo(link).LinkTarget is not null) File.Delete(link);
        File.CreateSymbolicLink(link, target);
        return link;
    }

    /// <summary>The GGUF files (paths relative to the snapshot, '/'-separated) a cached snapshot holds whole.</summary>
    public IReadOnlyList<string> CachedGgufFiles(string commit)
    {
        string dir = SnapshotDirectory(commit);
        if (!Directory.Exists(dir)) return [];
        return Directory.EnumerateFiles(dir, "*.gguf", SearchOption.AllDirectories)
            .Where(File.Exists) // a dangling link (blob removed) is not a cached file
            .Select(f => Path.GetRelativePath(dir, f).Replace(Path.DirectorySeparatorChar, '/'))
            .Order(StringComparer.Ordinal)
            .ToList();
    }
}
