using Tandem.Engine.KvCache;
using Tandem.Server;
using Tandem.Serving;

namespace Tandem.Benchmark.Tests;

/// <summary>A real Tandem server on 127.0.0.1 (port 0) over a runtime on the shared tiny model, for the benchmark to measure.</summary>
internal sealed class LocalTandemServer : IAsyncDisposable
{
    private readonly ServingRuntime _engine;
    private readonly TandemServer _server;

    private LocalTandemServer(ServingRuntime engine, TandemServer server)
    {
        _engine = engine;
        _server = server;
    }

    public Uri Address => _server.Address;

    /// <param name="localPrefillThreshold">Disaggregated: null for the default; 0 sends every prompt through the prefill instance and a KV transfer.</param>
    public static async Task<LocalTandemServer> StartAsync(ServingMode mode, int? localPrefillThreshold = null)
    {
        var engine = ServingRuntime.Start(new ServingOptions
        {
            ModelPath = TestPaths.Model("stories260K.gguf"),
            Mode = mode,
            LocalPrefillThreshold = localPrefillThreshold ?? ServingOptions.DefaultLocalPrefillThreshold,
            KvElementType = KvElementType.F32,
            KvBlocksPerInstance = 256,
            CoresPerInstance = 1,
            OnWarning = _ => { },
        });
        var server = TandemServer.Create(engine, new TandemServerOptions
        {
            Host = "127.0.0.1",
            Port = 0,
            Api = new TandemApiOptions { ServedModelName = "stories260K" },
        });
        try
        {
            await server.StartAsync();
        }
        catch
        {
            await server.DisposeAsync();
            await engine.DisposeAsync();
            throw;
        }
        return new LocalTandemServer(engine, server);
    }

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        await _engine.DisposeAsync();
    }
}
