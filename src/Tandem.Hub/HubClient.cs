using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Tandem.Hub;

/// <summary>
/// Resolves <c>hf:</c> references to a local GGUF file in the Hugging Face cache, downloading it when it is not there,
/// with the Hub HTTP API huggingface_hub uses: <c>GET /api/models/{repo}/tree/{rev}</c> lists the files,
/// <c>HEAD /{repo}/resolve/{rev}/{file}</c> gives the commit, ETag and size (following the Hub's own relative
/// redirects, not the one to the CDN), and a GET on the CDN URL fetches the bytes into <c>blobs/{etag}.incomplete</c>,
/// resuming with a Range request after a dropped connection. The file is checked against the size and the ETag
/// (sha256 for LFS files, the git blob id otherwise) before it becomes the blob the snapshot links to.
/// </summary>
public sealed class HubClient : IDisposable
{
    /// <summary>The branch <c>hf:</c> references resolve against.</summary>
    public const string Revision = "main";

    private const int MaxRedirects = 10;
    private const int MaxListingPages = 100;

    private readonly HubSettings _settings;
    private readonly Action<string> _warn;
    private readonly HttpClient _http;
    private readonly Uri _endpoint;

    public HubClient(HubSettings settings, Action<string>? onWarning = null, HttpMessageHandler? handler = null)
    {
        _settings = settings;
        _warn = onWarning ?? (_ => { });
        _endpoint = new Uri(settings.Endpoint + "/");
        // Redirects are followed by hand: relative ones (a renamed repository) always, the one to the CDN only for the
        // bytes, and the token goes to the Hub alone.
        _http = new HttpClient(handler ?? new SocketsHttpHandler { AllowAutoRedirect = false, AutomaticDecompression = DecompressionMethods.None }, disposeHandler: true)
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd("tandem/1.0");
    }

    public void Dispose() => _http.Dispose();

    /// <summary>The local path of the GGUF file <paramref name="reference"/> names: from the cache, or downloaded into it.</summary>
    public async Task<string> ResolveAsync(HubModelReference reference, IProgress<HubDownloadProgress>? progress = null, CancellationToken cancellation = default)
    {
        var cache = new HubCache(_settings.CacheDirectory, reference.RepoId);
        if (_settings.Offline)
            return FromCache(reference, cache, "HF_HUB_OFFLINE is set");
        HubFileInfo info;
        try
        {
            IReadOnlyList<string> files = reference.FilePath is { } named ? [named] : await ListFilesAsync(reference, cancellation);
            string file = GgufFileChoice.Choose(reference, files, $"on {_settings.Endpoint}");
            if (GgufFileChoice.IsSplitPart(file))
                throw new HubException($"{reference}: {file} is one part of a split GGUF; Tandem loads single-file models: pick a quantization stored in one file");
            info = await HeadAsync(reference, file, cancellation);
        }
        catch (HttpRequestException e) when (e.StatusCode is null && !cancellation.IsCancellationRequested)
        {
            // No answer at all (DNS, refused, reset): the cache, as huggingface_hub falls back to it.
            string why = $"{_settings.Endpoint} cannot be reached ({e.Message})";
            string cached = FromCache(reference, cache, why, e);
            _warn($"{why}; using the cached {cached}");
            return cached;
        }
        string blob = cache.BlobPath(info.Etag);
        if (!File.Exists(blob) || new FileInfo(blob).Length != info.Size)
            await DownloadAsync(reference, info, cache, progress, cancellation);
        cache.WriteRef(Revision, info.Commit);
        return cache.LinkSnapshot(info.Commit, info.FilePath, info.Etag);
    }

    /// <summary>Every file path of the repository at <see cref="Revision"/> (the tree listing, page by page).</summary>
    private async Task<IReadOnlyList<string>> ListFilesAsync(HubModelReference reference, CancellationToken cancellation)
    {
        var files = new List<string>();
        Uri? page = new(_endpoint, $"api/models/{reference.RepoId}/tree/{Revision}?recursive=true");
        for (int i = 0; page is not null && i < MaxListingPages; i++)
        {
            using var response = await SendAsync(HttpMethod.Get, page, rangeFrom: 0, toCdn: false, cancellation);
            if (!response.IsSuccessStatusCode)
                throw Failure(response, reference, file: null);
            using var json = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(cancellation), cancellationToken: cancellation);
            if (json.RootElement.ValueKind != JsonValueKind.Array)
                throw new HubException($"{reference}: {response.RequestMessage!.RequestUri} did not answer a file listing: is HF_ENDPOINT ({_settings.Endpoint}) a Hugging Face Hub?");
            foreach (var entry in json.RootElement.EnumerateArray())
            {
                if (entry.TryGetProperty("type", out var type) && type.GetString() == "file" && entry.TryGetProperty("path", out var path) && path.GetString() is string p)
                    files.Add(p);
            }
            page = NextPage(response);
        }
        return files;
    }

    /// <summary>The <c>Link: &lt;url&gt;; rel="next"</c> of a paginated listing.</summary>
    private Uri? NextPage(HttpResponseMessage response)
    {
        if (!response.Headers.TryGetValues("Link", out var links)) return null;
        foreach (string part in links.SelectMany(l => l.Split(',')))
        {
            int open = part.IndexOf('<'), close = part.IndexOf('>');
            if (open >= 0 && close > open && part.Contains("rel=\"next\"", StringComparison.Ordinal))
                return new Uri(_endpoint, part[(open + 1)..close]);
        }
        return null;
    }

    private async Task<HubFileInfo> HeadAsync(HubModelReference reference, string file, CancellationToken cancellation)
    {
        var resolve = new Uri(_endpoint, $"{reference.RepoId}/resolve/{Revision}/{string.Join('/', file.Split('/').Select(Uri.EscapeDataString))}");
        using var response = await SendAsync(HttpMethod.Head, resolve, rangeFrom: 0, toCdn: false, cancellation);
        bool toCdn = (int)response.StatusCode is >= 300 and < 400 && response.Headers.Location is not null;
        if (!toCdn && !response.IsSuccessStatusCode)
            throw Failure(response, reference, file);
        string? commit = Header(response, "X-Repo-Commit");
        string? etag = Header(response, "X-Linked-Etag") ?? response.Headers.ETag?.Tag ?? Header(response, "ETag");
        long? size = long.TryParse(Header(response, "X-Linked-Size"), out long linked) ? linked : response.Content.Headers.ContentLength;
        if (commit is null || etag is null || size is null)
            throw new HubException($"{reference}: the answer for {file} lacks X-Repo-Commit, ETag or a size: is HF_ENDPOINT ({_settings.Endpoint}) a Hugging Face Hub?");
        etag = etag.StartsWith("W/", StringComparison.Ordinal) ? etag[2..] : etag;
        var bytes = toCdn ? new Uri(response.RequestMessage!.RequestUri!, response.Headers.Location!) : response.RequestMessage!.RequestUri!;
        return new HubFileInfo(file, commit, etag.Trim('"'), size.Value, bytes);
    }

    private async Task DownloadAsync(HubModelReference reference, HubFileInfo info, HubCache cache, IProgress<HubDownloadProgress>? progress, CancellationToken cancellation)
    {
        string partial = cache.IncompletePath(info.Etag);
        Directory.CreateDirectory(Path.GetDirectoryName(partial)!);
        Exception? lastFailure = null;
        var buffer = new byte[1 << 16];
        for (int attempt = 1; attempt <= _settings.MaxAttempts; attempt++)
        {
            long have = File.Exists(partial) ? new FileInfo(partial).Length : 0;
            if (have > info.Size) { File.Delete(partial); have = 0; }
            if (have == info.Size) break;
            if (attempt > 1)
                await Task.Delay(TimeSpan.FromMilliseconds(200 * (attempt - 1)), cancellation);
            try
            {
                using var response = await SendAsync(HttpMethod.Get, info.DownloadUri, have, toCdn: true, cancellation);
                if (!response.IsSuccessStatusCode)
                    throw Failure(response, reference, info.FilePath);
                // 206 continues the partial file; 200 (a server that ignores Range) starts it again.
                bool resumed = response.StatusCode == HttpStatusCode.PartialContent && response.Content.Headers.ContentRange?.From == have;
                long done = resumed ? have : 0;
                await using (var output = new FileStream(partial, resumed ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
                await using (var body = await response.Content.ReadAsStreamAsync(cancellation))
                {
                    progress?.Report(new HubDownloadProgress(info.FilePath, done, info.Size));
                    int n;
                    while ((n = await body.ReadAsync(buffer, cancellation)) > 0)
                    {
                        await output.WriteAsync(buffer.AsMemory(0, n), cancellation);
                        done += n;
                        progress?.Report(new HubDownloadProgress(info.FilePath, done, info.Size));
                    }
                }
                if (done == info.Size) break;
                lastFailure = new IOException($"the connection closed after {done} of {info.Size} bytes");
            }
            catch (Exception e) when (e is IOException or HttpRequestException && !cancellation.IsCancellationRequested)
            {
                lastFailure = e; // resumed from what reached the disk
            }
        }
        long length = File.Exists(partial) ? new FileInfo(partial).Length : 0;
        if (length != info.Size)
            throw new HubException($"{reference}: downloading {info.FilePath} failed after {_settings.MaxAttempts} attempts ({length} of {info.Size} bytes; {lastFailure?.Message}); run again to resume", lastFailure);
        string? actual = await HashLikeEtagAsync(partial, info.Etag, info.Size, cancellation);
        if (actual is not null && !string.Equals(actual, info.Etag, StringComparison.OrdinalIgnoreCase))
        {
            File.Delete(partial);
            throw new HubException($"{reference}: the downloaded {info.FilePath} does not match the Hub's hash (got {actual}, expected {info.Etag}); the download was removed, run again");
        }
        File.Move(partial, cache.BlobPath(info.Etag), overwrite: true);
    }

    /// <summary>
    /// The file's hash in the ETag's kind: sha256 for an LFS file (64 hex digits), the git blob id (sha1 of
    /// "blob SIZE\0" + bytes, 40 hex digits) for a file stored in git; null for an ETag of neither kind.
    /// </summary>
    internal static async Task<string?> HashLikeEtagAsync(string path, string etag, long size, CancellationToken cancellation)
    {
        using var hash = etag.Length switch
        {
            64 => IncrementalHash.CreateHash(HashAlgorithmName.SHA256),
            40 => IncrementalHash.CreateHash(HashAlgorithmName.SHA1),
            _ => null,
        };
        if (hash is null) return null;
        if (etag.Length == 40) hash.AppendData(Encoding.ASCII.GetBytes($"blob {size}\0"));
        await using var input = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
        var buffer = new byte[1 << 16];
        int n;
        while ((n = await input.ReadAsync(buffer, cancellation)) > 0)
            hash.AppendData(buffer, 0, n);
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>
    /// One request, following relative redirects (same host) and, when <paramref name="toCdn"/>, absolute ones too.
    /// The token goes only to the Hub's own host.
    /// </summary>
    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, Uri uri, long rangeFrom, bool toCdn, CancellationToken cancellation)
    {
        for (int hop = 0; ; hop++)
        {
            var request = new HttpRequestMessage(method, uri);
            if (_settings.Token is { } token && IsHub(uri))
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            if (rangeFrom > 0)
                request.Headers.Range = new RangeHeaderValue(rangeFrom, null);
            var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellation);
            if ((int)response.StatusCode is >= 300 and < 400 && response.Headers.Location is { } location && hop < MaxRedirects)
            {
                var next = new Uri(uri, location);
                bool sameSite = next.Scheme == uri.Scheme && next.Host == uri.Host && next.Port == uri.Port;
                if (sameSite || toCdn)
                {
                    response.Dispose();
                    uri = next;
                    continue;
                }
            }
            return response;
        }
    }

    private bool IsHub(Uri uri) => uri.Scheme == _endpoint.Scheme && uri.Host == _endpoint.Host && uri.Port == _endpoint.Port;

    /// <summary>What a failed answer means for the user (the Hub says which in <c>X-Error-Code</c>).</summary>
    private HubException Failure(HttpResponseMessage response, HubModelReference reference, string? file)
    {
        string? code = Header(response, "X-Error-Code");
        int status = (int)response.StatusCode;
        string tokenHint = _settings.Token is null ? " (a private or gated one needs HF_TOKEN)" : "";
        if (code == "RepoNotFound" || (status == 404 && code is null && file is null))
            return new HubException($"{reference}: there is no model repository {reference.RepoId} on {_settings.Endpoint}{tokenHint}");
        if (code == "EntryNotFound" || status == 404)
            return new HubException($"{reference}: {reference.RepoId} has no file {file} at {Revision}");
        if (code == "GatedRepo" || status is 401 or 403)
        {
            return new HubException(_settings.Token is null
                ? $"{reference}: {reference.RepoId} is gated or private: set HF_TOKEN to an access token of an account that may read it (for a gated model, accept its terms on the Hub first)"
                : $"{reference}: the token in HF_TOKEN may not read {reference.RepoId} (HTTP {status}): for a gated model, accept its terms on the Hub with that account");
        }
        return new HubException($"{reference}: the Hub answered HTTP {status} {response.ReasonPhrase} for {response.RequestMessage?.RequestUri}");
    }

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) || response.Content.Headers.TryGetValues(name, out values) ? values.FirstOrDefault() : null;

    /// <summary>A file already in the cache (offline, or the Hub unreachable): the commit <c>refs/main</c> names, the file the reference picks among those cached.</summary>
    private static string FromCache(HubModelReference reference, HubCache cache, string why, Exception? inner = null)
    {
        string? commit = cache.ReadRef(Revision);
        var files = commit is null ? [] : cache.CachedGgufFiles(commit);
        if (commit is null || files.Count == 0)
            throw new HubException($"{reference} is not in the Hugging Face cache ({cache.RepoDirectory}) and {why}: run once with the Hub reachable (and HF_HUB_OFFLINE unset) to download it", inner);
        string file = GgufFileChoice.Choose(reference, files, $"in the cache ({why})");
        return cache.SnapshotPath(commit, file);
    }
}
