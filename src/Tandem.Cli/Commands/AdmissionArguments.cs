using System.CommandLine;
using System.Globalization;
using Tandem.Planning.Profiles;
using Tandem.Planning.Search;
using Tandem.Server;

namespace Tandem.Cli.Commands;

/// <summary>
/// <c>tandem serve</c>'s overload options: the waiting-request bound, the TTFT SLO for early rejection (with the
/// latency profile its estimate uses), the per-request timeout and the health check's stall timeout.
/// </summary>
internal sealed class AdmissionArguments
{
    public Option<int?> MaxWaitingRequests { get; } = new("--max-waiting-requests")
    {
        Description = "Most requests waiting for their first token; more get 429 with Retry-After at once (default: no bound)",
    };
    public Option<double?> SloTtft { get; } = new("--slo-ttft")
    {
        Description = "TTFT target in seconds: a request whose estimated TTFT (the prefill work waiting before it, then its own) is longer gets 429 at once (default: off)",
    };
    public Option<string?> Profile { get; } = new("--profile")
    {
        Description = "Latency profile from 'tandem profile' for --slo-ttft's prefill estimate (default: the --plan's profile, else step times measured live)",
    };
    public Option<double?> RequestTimeout { get; } = new("--request-timeout")
    {
        Description = "Seconds a generation request may run from arrival; then it ends with finish_reason \"abort\" and its KV is freed (default: no limit)",
    };
    public Option<double> StallTimeout { get; } = new("--stall-timeout")
    {
        Description = "Seconds an instance with work may finish no step before /health answers 503 naming it (a stuck loop)",
        DefaultValueFactory = _ => new TandemApiOptions().StallTimeout.TotalSeconds,
    };

    public IEnumerable<Option> All => [MaxWaitingRequests, SloTtft, Profile, RequestTimeout, StallTimeout];

    /// <summary>Sets the options on <paramref name="api"/>; returns the profile to pick the prefill model from once the instances' cores are known.</summary>
    public LatencyProfile? Apply(ParseResult parse, TandemApiOptions api, PlanFile? plan)
    {
        if (parse.GetValue(MaxWaitingRequests) is int max)
        {
            if (max < 1) throw new CliUsageException($"--max-waiting-requests must be at least 1, got {max}");
            api.MaxWaitingRequests = max;
        }
        if (parse.GetValue(SloTtft) is double slo) api.SloTtft = Seconds(slo, SloTtft.Name);
        if (parse.GetValue(RequestTimeout) is double timeout) api.RequestTimeout = Seconds(timeout, RequestTimeout.Name);
        api.StallTimeout = Seconds(parse.GetValue(StallTimeout), StallTimeout.Name);

        string? path = parse.GetValue(Profile);
        if (path is not null && api.SloTtft is null)
            throw new CliUsageException("--profile is for --slo-ttft's estimate: give --slo-ttft too, or drop --profile");
        if (api.SloTtft is null) return null;
        path ??= plan?.Profile;
        if (path is null) return null;
        try
        {
            return LatencyProfileJson.Read(path);
        }
        catch (Exception e) when (e is ArgumentException or IOException)
        {
            throw new CliUsageException($"--slo-ttft: cannot read the latency profile {path}: {e.Message}");
        }
    }

    /// <summary>The profile's model for instances of <paramref name="cores"/> cores, or the nearest it has (with a warning).</summary>
    public static ConfigLatency PrefillModel(LatencyProfile profile, int cores, CliConsole console)
    {
        var exact = profile.Configs.FirstOrDefault(c => c.Tp == cores);
        if (exact is not null) return exact;
        var nearest = profile.Configs.OrderBy(c => Math.Abs(c.Tp - cores)).First();
        console.Error.WriteLine($"warning: the latency profile has no {cores}-core entry; --slo-ttft estimates prefill with its {nearest.Tp}-core one");
        return nearest;
    }

    private static TimeSpan Seconds(double value, string option)
    {
        if (!(value > 0 && value <= 86400))
            throw new CliUsageException($"{option} must be between 0 and 86400 seconds (exclusive of 0), got {value.ToString(CultureInfo.InvariantCulture)}");
        return TimeSpan.FromSeconds(value);
    }
}
