using Tandem.Server.Cluster;
using Tandem.Serving;
using Tandem.Serving.Workers;

namespace Tandem.Cli.Commands;

/// <summary>
/// <c>tandem serve</c>'s cluster options as given: the role, how the frontend finds workers (lists) or a worker
/// finds the frontend, the shared token, and the timeouts. <see cref="Validate"/> refuses combinations that mean nothing.
/// </summary>
internal sealed record ClusterArguments(
    string Role,
    IReadOnlyList<string> PrefillWorkers,
    IReadOnlyList<string> DecodeWorkers,
    string? Frontend,
    string? AdvertiseAddress,
    string? Token,
    TimeSpan WorkerTimeout,
    TimeSpan KvLease,
    KvTransport KvTransport,
    bool KvOverlap = false)
{
    public bool IsWorker => Role is "prefill" or "decode";
    public WorkerRole WorkerRole => Role == "prefill" ? WorkerRole.Prefill : WorkerRole.Decode;

    public void Validate(ServingMode mode, bool modeGiven, bool kvTransportGiven)
    {
        if (kvTransportGiven && Role != "decode")
            throw new CliUsageException("--kv-transport goes with --role decode (the decode worker pulls the KV; a prefill worker offers every transport)");
        if (KvOverlap && Role != "frontend")
            throw new CliUsageException("--kv-overlap goes with --role frontend (the frontend starts the decode side early; workers need no flag)");
        bool lists = PrefillWorkers.Count > 0 || DecodeWorkers.Count > 0;
        if (lists && Role != "frontend")
            throw new CliUsageException("--prefill-workers / --decode-workers go with --role frontend");
        if (Frontend != null && !IsWorker)
            throw new CliUsageException("--frontend goes with --role prefill or --role decode (the worker registers with that frontend)");
        if (AdvertiseAddress != null && Frontend == null)
            throw new CliUsageException("--advertise-address goes with --frontend (it is the address the worker registers)");
        if (Role == "all") return;
        if (IsWorker && modeGiven && mode != ServingMode.Disaggregated)
            throw new CliUsageException($"--role {Role} runs one half of disaggregated serving; --mode {mode.ToString().ToLowerInvariant()} goes with --role all");
        if (string.IsNullOrEmpty(Token))
            throw new CliUsageException($"--role {Role} needs the cluster's shared secret: --cluster-token or ${ClusterToken.EnvironmentVariable} " +
                "(the same on the frontend and every worker; a cluster port refuses calls without it)");
        foreach (var entry in PrefillWorkers.Concat(DecodeWorkers).Append(Frontend).Append(AdvertiseAddress))
        {
            if (entry == null) continue;
            if (!Uri.TryCreate(ClusterChannels.NormalizeAddress(entry), UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.Port <= 0)
                throw new CliUsageException($"'{entry}' is not a host:port or http://host:port address");
        }
    }
}
