namespace Tandem.Hub;

/// <summary>How far the download of one file is: bytes on disk (a resumed download starts above 0) of the file's size.</summary>
public readonly record struct HubDownloadProgress(string FilePath, long Bytes, long TotalBytes);
