namespace Tandem.Hub;

/// <summary>
/// What the Hub says of one file at a revision, from a HEAD on its resolve URL: the commit the revision is at
/// (<c>X-Repo-Commit</c>), the blob's ETag (<c>X-Linked-Etag</c> for LFS files: their sha256; else the git blob id),
/// its size, and where its bytes are (the CDN the Hub redirects LFS files to, or the resolve URL itself).
/// </summary>
public sealed record HubFileInfo(string FilePath, string Commit, string Etag, long Size, Uri DownloadUri);
