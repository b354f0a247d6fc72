using Tandem.Engine.KvCache;
using Tandem.Server;
using Tandem.Serving;

namespace Tandem.Extensions.AI.Tests;

/// <summary>
/// One <see cref="TandemService"/> on stories260K (chatml, F32 KV so greedy text is llama.cpp's) and a real Kestrel
/// <see cref="TandemServer"/> over the same runtime: the in-process client and the HTTP API see the same engine.
/// </summary>
public class InProcessFixture : IAsyncLifetime
{
    public const string ModelName = "stories260K";

    public static TandemOptions Options(string modelFile = "stories260K.gguf") => new()
    {
        Model = TestPaths.Model(modelFile),
        ChatTemplate = "chatml",
        Serving = new ServingOptions { KvElementType = KvElementType.F32, KvBlocksPerInstance = 256, CoresPerInstance = 1, OnWarning = _ => { } },
    };

    /// <summary>The model under test (stories260K: a 512-token context).</summary>
    protected virtual string ModelFile => "stories260K.gguf";

    public TandemService Service { get; private set; } = null!;
    public TandemChatClient Client { get; private set; } = null!;
    public TandemServer Server { get; private set; } = null!;
    public HttpClient Http { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Service = await TandemService.StartAsync(Options(ModelFile));
        Client = new TandemChatClient(Service);
        Server = TandemServer.Create(Service.Engine, new TandemServerOptions
        {
            Host = "127.0.0.1",
            Port = 0,
            Api = new TandemApiOptions { ServedModelName = ModelName, ChatTemplateName = "chatml" },
        });
        await Server.StartAsync();
        Http = new HttpClient { BaseAddress = Server.Address, Timeout = TimeSpan.FromMinutes(2) };
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        await Server.StopAsync();
        await Server.DisposeAsync();
        await Service.DisposeAsync();
    }
}

/// <summary>
/// The same on tinyllama-v0 (no template of its own: ChatML, whose tools are Hermes'), whose 2048-token context
/// holds the tool prompt that stories260K's 512 tokens do not.
/// </summary>
public sealed class ToolsFixture : InProcessFixture
{
    protected override string ModelFile => "tinyllama-v0-q4_0.gguf";
}
