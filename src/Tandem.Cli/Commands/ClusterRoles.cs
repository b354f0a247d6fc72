using System.Globalization;
using Tandem.Engine.Model;
using Tandem.Server;
using Tandem.Server.Cluster;
using Tandem.Serving;
using Tandem.Serving.Workers;

namespace Tandem.Cli.Commands;

/// <summary>
/// <c>tandem serve --role frontend|prefill|decode</c>: the processes of a cluster. The frontend serves the same API as
/// <c>--role all</c> over remote workers; a worker serves the cluster protocol and /health until Ctrl+C / SIGTERM.
/// </summary>
internal static class ClusterRoles
{
    public static async Task<int> RunFrontendAsync(CliConsole console, ClusterArguments cluster, LanguageModel lm, ServingOptions options,
        TandemServerOptions listen, bool warmUp, CancellationToken cancellation)
    {
        await using var engine = new ClusterEngine(lm, new ClusterEngineOptions
        {
            Token = new ClusterToken(cluster.Token!),
            PrefillWorkers = cluster.PrefillWorkers,
            DecodeWorkers = cluster.DecodeWorkers,
            WorkerTimeout = cluster.WorkerTimeout,
            MaxContext = options.MaxContext,
            Routing = options.Routing,
            CacheOverlapWeight = options.CacheOverlapWeight,
            KvOverlap = cluster.KvOverlap,
            LocalPrefillThreshold = options.LocalPrefillThreshold,
            PrefillBusyTokens = options.PrefillBusyTokens,
            Log = m => console.Error.WriteLine(m),
        });
        await using var server = TandemServer.Create(engine, listen);
        await server.StartAsync(cancellation);
        console.Out.WriteLine($"model: {listen.Api.ServedModelName} ({lm.Config.ArchitectureName}, {lm.Config.BlockCount} layers, fingerprint {engine.Fingerprint})");
        console.Out.WriteLine($"role: frontend | max context {engine.MaxContext} | worker timeout {cluster.WorkerTimeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s | KV {(cluster.KvOverlap ? "pulled while prefilling (--kv-overlap)" : "pulled after prefill")}"
            + (options.LocalPrefillThreshold == 0 ? "" : $" | local prefill: prompts with at most {options.LocalPrefillThreshold} uncached tokens on a decode worker that takes them"
                + (options.PrefillBusyTokens > 0 ? $", every prompt while each prefill worker has {options.PrefillBusyTokens} queued" : "")));
        console.Out.WriteLine($"  prefill workers: {Listed(cluster.PrefillWorkers)}");
        console.Out.WriteLine($"  decode workers:  {Listed(cluster.DecodeWorkers)}");
        console.Out.WriteLine(server.Api.Chat.Describe());
        // Readiness waits for the warm-up; listening comes first, as workers started with --frontend register here.
        var warming = warmUp ? server.WarmUpAsync(listen.Access, options.BlockSize, cancellation) : null;
        console.Out.WriteLine($"listening on {server.Address} (OpenAI API at {server.Address}v1, /health, /health/ready, /metrics, cluster registration); Ctrl+C stops");
        console.Out.WriteLine(warming is null ? "warm-up: off (--no-warmup): the first requests compile the serving path"
            : "warm-up: waiting for a prefill and a decode worker, then one request through them; /health/ready turns 200 after it");
        console.Out.Flush();
        _ = warming?.ContinueWith(t =>
        {
            if (t.IsCompletedSuccessfully)
            {
                lock (console) console.Out.WriteLine(t.Result.Describe());
                console.Out.Flush();
            }
        }, TaskScheduler.Default);
        return await ServeCommand.ServeUntilStoppedAsync(console, server, listen.Api.ShutdownTimeout.TotalSeconds, cancellation);
    }

    private static string Listed(IReadOnlyList<string> list) => list.Count == 0 ? "(those that register with --frontend)" : string.Join(", ", list);

    public static async Task<int> RunWorkerAsync(CliConsole console, ClusterArguments cluster, ServingOptions options, TandemServerOptions listen,
        CancellationToken cancellation)
    {
        await using var worker = WorkerRuntime.Start(options, cluster.WorkerRole, cluster.KvLease);
        await using var server = WorkerServer.Create(worker, new WorkerServerOptions
        {
            Host = listen.Host,
            Port = listen.Port,
            Token = new ClusterToken(cluster.Token!),
            Frontend = cluster.Frontend,
            AdvertiseAddress = cluster.AdvertiseAddress,
            KvTransport = cluster.KvTransport,
            ShutdownTimeout = listen.Api.ShutdownTimeout,
            StallTimeout = listen.Api.StallTimeout,
            LogLevel = listen.LogLevel,
            LogFormat = listen.LogFormat,
            OtlpEndpoint = listen.OtlpEndpoint,
            Log = m => console.Error.WriteLine(m),
        });
        await server.StartAsync(cancellation);
        var s = worker.Snapshot();
        console.Out.WriteLine($"model: {Path.GetFileName(options.Model?.File.Path ?? options.ModelPath)} ({worker.Config.ArchitectureName}, fingerprint {worker.Fingerprint})");
        string lease = cluster.WorkerRole == WorkerRole.Prefill
            ? string.Create(CultureInfo.InvariantCulture, $" | KV lease {cluster.KvLease.TotalSeconds} s")
            : $" | KV transport {cluster.KvTransport.ToString().ToLowerInvariant()}"
                + (worker.LocalPrefillBudget > 0 ? $" | prefills prompts sent without KV, {worker.LocalPrefillBudget} tokens a step" : "");
        console.Out.WriteLine($"role: {cluster.Role} worker | cores [{string.Join(",", s.Cores)}] | KV {options.KvElementType.ToString().ToLowerInvariant()}, {s.KvBlocksTotal} blocks of {options.BlockSize} tokens{lease}");
        if (worker.KvDisk is { } disk) console.Out.WriteLine(disk.Describe([(cluster.Role, Math.Max(1, s.Cores.Count))]));
        console.Out.WriteLine($"listening on {server.Address} (cluster gRPC, /health, /health/ready); Ctrl+C stops");
        console.Out.Flush();
        double grace = listen.Api.ShutdownTimeout.TotalSeconds;
        using var announce = server.Lifetime.ApplicationStopping.Register(() => console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"stopping: refusing new work, letting requests in flight and KV waiting for a pull finish (up to {grace:0.###} s)")));
        try
        {
            await server.WaitForShutdownAsync(cancellation);
        }
        catch (OperationCanceledException) { }
        await server.StopAsync(CancellationToken.None);
        if (server.RequestsCut > 0)
        {
            console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"stopped: {server.RequestsCut} request(s) or held KV still there after {grace:0.###} s were cut (the frontend recomputes them elsewhere)"));
            return 1;
        }
        console.Error.WriteLine("stopped: every request finished");
        return 0;
    }
}
