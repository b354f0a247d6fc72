using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Tandem.Extensions.AI;

// The namespace of IServiceCollection, as Microsoft's own Add… extensions use, so AddTandem needs no extra using.
namespace Microsoft.Extensions.DependencyInjection;

public static class TandemServiceCollectionExtensions
{
    /// <summary>
    /// Registers Tandem in process: <see cref="TandemService"/> (a hosted service that loads the model and runs the
    /// serving runtime for the host's lifetime) and <see cref="IChatClient"/> over it — no HTTP.
    /// </summary>
    public static IServiceCollection AddTandem(this IServiceCollection services, Action<TandemOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<TandemOptions>().Configure(configure);
        services.TryAddSingleton<TandemService>();
        services.AddHostedService(sp => sp.GetRequiredService<TandemService>());
        services.TryAddSingleton<IChatClient>(sp => new TandemChatClient(sp.GetRequiredService<TandemService>()));
        return services;
    }
}
