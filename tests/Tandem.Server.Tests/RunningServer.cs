using System.ClientModel;
using OpenAI;
using Tandem.Serving;

namespace Tandem.Server.Tests;

/// <summary>
/// A real Kestrel server on 127.0.0.1, port 0, over a real runtime: the address is read back once bound; disposing
/// stops the server, then the runtime (always, from a finally or a fixture's DisposeAsync).
/// </summary>
public sealed class RunningServer : IAsyncDisposable
{
    private RunningServer(IServingEngine engine, TandemServer server)
    {
        Engine = engine;
        Server = server;
        Address = server.Address;
        Http = new HttpClient { BaseAddress = Address, Timeout = TimeSpan.FromMinutes(5) };
        Client = new OpenAIClient(new ApiKeyCredential("test-key"), new OpenAIClientOptions { Endpoint = new Uri(Address, "/v1") });
    }

    public const string ModelName = "stories260K";

    public IServingEngine Engine { get; }
    public TandemServer Server { get; }
    public Uri Address { get; }
    public HttpClient Http { get; }
    public OpenAIClient Client { get; }

    public static async Task<RunningServer> StartAsync(string mode = "disaggregated", string? chatTemplate = "chatml", Action<TandemApiOptions>? configure = null,
        Action<TandemServerOptions>? configureServer = null, int kvBlocksPerInstance = 256, Func<IServingEngine, IServingEngine>? wrapEngine = null, string? modelPath = null,
        int? localPrefillThreshold = null)
    {
        var engine = TestRuntimes.Start(mode, kvBlocksPerInstance, modelPath, localPrefillThreshold);
        if (wrapEngine is not null) engine = wrapEngine(engine);
        TandemServer? server = null;
        try
        {
            var api = new TandemApiOptions { ServedModelName = ModelName, ChatTemplateName = chatTemplate };
            configure?.Invoke(api);
            var options = new TandemServerOptions { Host = "127.0.0.1", Port = 0, Api = api };
            configureServer?.Invoke(options);
            server = TandemServer.Create(engine, options);
            await server.StartAsync();
            return new RunningServer(engine, server);
        }
        catch
        {
            if (server is not null) await server.DisposeAsync();
            await engine.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        try
        {
            await Server.StopAsync();
            await Server.DisposeAsync();
        }
        finally
        {
            await Engine.DisposeAsync();
        }
    }
}

/// <summary>One server shared by a test class (starting the runtime once keeps the suite quick on two cores).</summary>
public sealed class ServerFixture : IAsyncLifetime
{
    public RunningServer Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await RunningServer.StartAsync();

    public async Task DisposeAsync() => await Server.DisposeAsync();
}
