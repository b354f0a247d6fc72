using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Tandem.Hub.Tests;

/// <summary>One file of a fake repository: LFS files are served from the fake CDN by sha256, others by the Hub itself.</summary>
public sealed record FakeHubFile(string Path, byte[] Bytes, bool Lfs = true)
{
    public string Sha256 => Convert.ToHexStringLower(SHA256.HashData(Bytes));

    /// <summary>git's blob id: what the Hub gives as the ETag of a file kept in git.</summary>
    public string GitBlobId => Convert.ToHexStringLower(SHA1.HashData([.. Encoding.ASCII.GetBytes($"blob {Bytes.Length}\0"), .. Bytes]));
}

public sealed record FakeHubRepo(string Id, string Commit, IReadOnlyList<FakeHubFile> Files, string? RequiredToken = null);

/// <summary>
/// A stand-in for huggingface.co on a real Kestrel (127.0.0.1, port 0), serving the endpoints the client uses as the
/// Hub serves them: <c>GET /api/models/{repo}/tree/main</c>, <c>HEAD|GET /{repo}/resolve/main/{file}</c> (LFS files:
/// a 302 to the CDN with X-Linked-Etag / X-Linked-Size / X-Repo-Commit; a renamed repository: a relative 307;
/// errors with X-Error-Code), and a CDN at <c>http://localhost:PORT/cdn/{sha256}</c> — another host name, so the token
/// must not follow — that honours Range and can drop the connection part-way through a file.
/// </summary>
public sealed class FakeHub : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Dictionary<string, FakeHubRepo> _repos;
    private int _dropsLeft;

    private FakeHub(WebApplication app, IEnumerable<FakeHubRepo> repos)
    {
        _app = app;
        _repos = repos.ToDictionary(r => r.Id, StringComparer.Ordinal);
    }

    public Uri Address { get; private set; } = null!;

    /// <summary>Old repository id → new one: the Hub answers the old name with a relative 307.</summary>
    public Dictionary<string, string> Renamed { get; } = [];

    /// <summary>Every request: "METHOD PATH" plus " range=…" and " auth" when those headers came.</summary>
    public ConcurrentQueue<string> Log { get; } = new();

    /// <summary>The next <paramref name="count"/> CDN responses send <paramref name="afterBytes"/> bytes of the body, then reset the connection.</summary>
    public void DropConnections(int count, long afterBytes)
    {
        DropAfterBytes = afterBytes;
        Volatile.Write(ref _dropsLeft, count);
    }

    private long DropAfterBytes { get; set; }

    /// <summary>The CDN serves these bytes flipped (a corrupted transfer).</summary>
    public bool Corrupt { get; set; }

    public static async Task<FakeHub> StartAsync(params FakeHubRepo[] repos)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0));
        var app = builder.Build();
        var hub = new FakeHub(app, repos);
        app.Use(async (ctx, next) =>
        {
            hub.Log.Enqueue($"{ctx.Request.Method} {ctx.Request.Path}{(ctx.Request.Headers.Range.Count > 0 ? " range=" + ctx.Request.Headers.Range : "")}{(ctx.Request.Headers.Authorization.Count > 0 ? " auth" : "")}");
            await next(ctx);
        });
        app.MapGet("/api/models/{org}/{name}/tree/{revision}", (HttpContext ctx, string org, string name, string revision) => hub.Tree(ctx, $"{org}/{name}", revision));
        app.MapMethods("/{org}/{name}/resolve/{revision}/{**file}", ["GET", "HEAD"],
            (HttpContext ctx, string org, string name, string revision, string file) => hub.Resolve(ctx, $"{org}/{name}", revision, file));
        app.MapGet("/cdn/{sha}", (HttpContext ctx, string sha) => hub.Cdn(ctx, sha));
        await app.StartAsync();
        hub.Address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        return hub;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    /// <summary>The repository, or the Hub's error answer (null) for a missing, renamed or gated one.</summary>
    private FakeHubRepo? Find(HttpContext ctx, string id)
    {
        if (Renamed.TryGetValue(id, out string? renamed))
        {
            ctx.Response.StatusCode = 307;
            ctx.Response.Headers.Location = ctx.Request.Path.Value!.Replace(id, renamed, StringComparison.Ordinal) + ctx.Request.QueryString;
            return null;
        }
        if (!_repos.TryGetValue(id, out var repo))
        {
            // The Hub does not say whether a repository is missing or private: 401 with RepoNotFound.
            Error(ctx, 401, "RepoNotFound");
            return null;
        }
        if (repo.RequiredToken is { } token && ctx.Request.Headers.Authorization.ToString() != $"Bearer {token}")
        {
            Error(ctx, 401, "GatedRepo");
            return null;
        }
        return repo;
    }

    private static void Error(HttpContext ctx, int status, string code)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.Headers["X-Error-Code"] = code;
    }

    private async Task Tree(HttpContext ctx, string id, string revision)
    {
        if (Find(ctx, id) is not { } repo) return;
        if (revision != "main") { Error(ctx, 404, "RevisionNotFound"); return; }
        await ctx.Response.WriteAsJsonAsync(repo.Files.Select(f => f.Lfs
            ? (object)new { type = "file", oid = f.GitBlobId, size = f.Bytes.Length, path = f.Path, lfs = new { oid = f.Sha256, size = f.Bytes.Length, pointerSize = 134 } }
            : new { type = "file", oid = f.GitBlobId, size = f.Bytes.Length, path = f.Path }));
    }

    private async Task Resolve(HttpContext ctx, string id, string revision, string path)
    {
        if (Find(ctx, id) is not { } repo) return;
        if (revision != "main") { Error(ctx, 404, "RevisionNotFound"); return; }
        var file = repo.Files.FirstOrDefault(f => f.Path == path);
        if (file is null) { Error(ctx, 404, "EntryNotFound"); return; }
        ctx.Response.Headers["X-Repo-Commit"] = repo.Commit;
        if (file.Lfs)
        {
            ctx.Response.StatusCode = 302;
            ctx.Response.Headers["X-Linked-Etag"] = $"\"{file.Sha256}\"";
            ctx.Response.Headers["X-Linked-Size"] = file.Bytes.Length.ToString(System.Globalization.CultureInfo.InvariantCulture);
            ctx.Response.Headers.ETag = "\"not-the-content-hash\"";
            ctx.Response.Headers.Location = $"http://localhost:{Address.Port}/cdn/{file.Sha256}";
            return;
        }
        ctx.Response.Headers.ETag = $"\"{file.GitBlobId}\"";
        ctx.Response.ContentLength = file.Bytes.Length;
        if (HttpMethods.IsGet(ctx.Request.Method))
            await ctx.Response.Body.WriteAsync(file.Bytes);
    }

    private async Task Cdn(HttpContext ctx, string sha)
    {
        var file = _repos.Values.SelectMany(r => r.Files).FirstOrDefault(f => f.Lfs && f.Sha256 == sha);
        if (file is null) { ctx.Response.StatusCode = 404; return; }
        byte[] bytes = Corrupt ? file.Bytes.Select(b => (byte)~b).ToArray() : file.Bytes;
        long from = 0;
        if (ctx.Request.Headers.Range.ToString() is { Length: > 0 } range && range.StartsWith("bytes=", StringComparison.Ordinal) && range.EndsWith('-'))
        {
            from = long.Parse(range["bytes=".Length..^1], System.Globalization.CultureInfo.InvariantCulture);
            if (from >= bytes.Length)
            {
                ctx.Response.StatusCode = 416;
                return;
            }
            ctx.Response.StatusCode = 206;
            ctx.Response.Headers.ContentRange = $"bytes {from}-{bytes.Length - 1}/{bytes.Length}";
        }
        ctx.Response.ContentLength = bytes.Length - from;
        ctx.Response.Headers.AcceptRanges = "bytes";
        if (Interlocked.Decrement(ref _dropsLeft) >= 0)
        {
            // Part of the body, flushed so it reaches the client, then a reset connection mid-file.
            int part = (int)Math.Min(DropAfterBytes, bytes.Length - from);
            await ctx.Response.Body.WriteAsync(bytes.AsMemory((int)from, part));
            await ctx.Response.Body.FlushAsync();
            ctx.Abort();
            return;
        }
        await ctx.Response.Body.WriteAsync(bytes.AsMemory((int)from));
    }
}
