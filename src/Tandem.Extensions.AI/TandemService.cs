using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Tandem.Engine.Chat;
using Tandem.Engine.Model;
using Tandem.Hub;
using Tandem.Serving;

namespace Tandem.Extensions.AI;

/// <summary>
/// The serving runtime as a hosted service: the host's start loads the model (resolving <c>hf:</c> names through the
/// Hugging Face cache) and starts the prefill / decode instances; its stop ends them. <see cref="TandemChatClient"/>
/// sends its requests here. Outside a host, <see cref="StartAsync(TandemOptions, CancellationToken)"/> does the same.
/// </summary>
public sealed class TandemService : IHostedService, IAsyncDisposable, IDisposable
{
    private readonly TandemOptions _options;
    private readonly SemaphoreSlim _lifecycle = new(1, 1);
    private LanguageModel? _model;
    private ServingRuntime? _runtime;

    public TandemService(IOptions<TandemOptions> options) => _options = options.Value;

    /// <summary>A started service over <paramref name="options"/>, for use without a host; dispose it to stop.</summary>
    public static async Task<TandemService> StartAsync(TandemOptions options, CancellationToken cancellation = default)
    {
        var service = new TandemService(Options.Create(options));
        await service.StartAsync(cancellation);
        return service;
    }

    /// <summary>The running engine; <see cref="InvalidOperationException"/> before the host started the service or after it stopped.</summary>
    public IServingEngine Engine => _runtime ?? throw new InvalidOperationException(
        "Tandem's runtime is not running: it starts with the host (IHost.StartAsync) or TandemService.StartAsync, and ends when they stop");

    /// <summary>The model id responses carry.</summary>
    public string ModelId { get; private set; } = "";

    /// <summary>
    /// The chat template in use, chosen as <c>tandem serve</c> chooses it (<see cref="ChatTemplateChoice"/>): the one named
    /// in <see cref="TandemOptions.ChatTemplate"/>, else the model's own Jinja template, else the built-in format its
    /// text matches, else ChatML. Null before the service started.
    /// </summary>
    public IChatTemplate? ChatTemplate { get; private set; }

    /// <summary>Why the template in use is a fallback (also sent to the serving options' OnWarning), or null.</summary>
    public string? ChatTemplateWarning { get; private set; }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await _lifecycle.WaitAsync(cancellationToken);
        try
        {
            if (_runtime is not null) return;
            string model = _options.Model ?? throw new InvalidOperationException("TandemOptions.Model is not set: give a GGUF file or hf:ORG/REPO[:QUANT]");
            string path = model;
            if (HubModelReference.IsHubReference(model))
            {
                using var hub = new HubClient(HubSettings.FromEnvironment(), _options.Serving.OnWarning);
                path = await hub.ResolveAsync(HubModelReference.Parse(model), cancellation: cancellationToken);
            }
            var lm = LanguageModel.Load(path);
            try
            {
                var serving = _options.Serving with { Model = lm, ModelPath = null };
                serving.Validate();
                _runtime = ServingRuntime.Start(serving);
            }
            catch
            {
                lm.Dispose();
                throw;
            }
            _model = lm;
            ModelId = _options.ModelId ?? Path.GetFileNameWithoutExtension(path);
            var v = _runtime.Tokenizer.Vocabulary;
            string bos = v.BosId >= 0 && v.BosId < v.Count ? v.Tokens[v.BosId] : "";
            string eos = v.EosId >= 0 && v.EosId < v.Count ? v.Tokens[v.EosId] : "";
            ChatTemplateChoice choice;
            try
            {
                choice = ChatTemplateChoice.Choose(_options.ChatTemplate, null, lm.File.GetString("tokenizer.chat_template"), bos, eos);
            }
            catch (ChatTemplateException)
            {
                // A typo in the template name stops the start, as it stops `tandem serve`.
                await _runtime.DisposeAsync();
                _runtime = null;
                _model = null;
                lm.Dispose();
                throw;
            }
            ChatTemplate = choice.Template;
            ChatTemplateWarning = choice.Warning;
            if (choice.Warning is { } warning) _options.Serving.OnWarning?.Invoke(warning);
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _lifecycle.WaitAsync(CancellationToken.None);
        try
        {
            if (_runtime is not null) await _runtime.DisposeAsync();
            _runtime = null;
            _model?.Dispose();
            _model = null;
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync(CancellationToken.None);

    /// <summary>For containers disposed synchronously (<c>using var host = …</c>): stops as <see cref="DisposeAsync"/> does.</summary>
    public void Dispose() => StopAsync(CancellationToken.None).GetAwaiter().GetResult();
}
