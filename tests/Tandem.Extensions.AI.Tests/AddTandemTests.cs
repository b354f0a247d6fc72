using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Tandem.Extensions.AI.Tests;

/// <summary><c>services.AddTandem(…)</c> in a real generic host: the runtime starts and stops with the host, IChatClient answers in between.</summary>
public sealed class AddTandemTests
{
    [Fact]
    public async Task The_host_starts_the_runtime_and_the_chat_client_answers_until_it_stops()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddTandem(o =>
        {
            var defaults = InProcessFixture.Options();
            o.Model = defaults.Model;
            o.ChatTemplate = defaults.ChatTemplate;
            o.Serving = defaults.Serving;
            o.ModelId = "tiny-stories";
        });
        using var host = builder.Build();
        var client = host.Services.GetRequiredService<IChatClient>();
        var service = host.Services.GetRequiredService<TandemService>();
        Assert.Throws<InvalidOperationException>(() => service.Engine);
        Assert.Contains(host.Services.GetServices<IHostedService>(), s => ReferenceEquals(s, service));

        await host.StartAsync();
        var response = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "Once upon a time")], new ChatOptions { Temperature = 0, MaxOutputTokens = 12 });
        Assert.Equal("tiny-stories", response.ModelId);
        Assert.Equal(12, response.Usage!.OutputTokenCount);

        // The same greedy request on a separately started service with the same options: the same text.
        await using (var other = await TandemService.StartAsync(InProcessFixture.Options()))
        {
            var again = await new TandemChatClient(other).GetResponseAsync([new ChatMessage(ChatRole.User, "Once upon a time")], new ChatOptions { Temperature = 0, MaxOutputTokens = 12 });
            Assert.Equal(again.Text, response.Text);
        }

        await host.StopAsync();
        var stopped = await Assert.ThrowsAsync<InvalidOperationException>(() => client.GetResponseAsync([new ChatMessage(ChatRole.User, "x")]));
        Assert.Contains("not running", stopped.Message);
    }

    [Fact]
    public async Task A_missing_model_or_template_name_fails_the_start()
    {
        await using var none = new TandemService(Microsoft.Extensions.Options.Options.Create(new TandemOptions()));
        Assert.Contains("Model is not set", (await Assert.ThrowsAsync<InvalidOperationException>(() => none.StartAsync(default))).Message);
        var badTemplate = InProcessFixture.Options();
        badTemplate.ChatTemplate = "no-such-template";
        await Assert.ThrowsAsync<Tandem.Engine.Chat.ChatTemplateException>(() => TandemService.StartAsync(badTemplate));
    }
}
