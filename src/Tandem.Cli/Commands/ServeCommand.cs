using System.CommandLine;
using System.Globalization;
using Tandem.Engine.Chat;
using Tandem.Engine.KvCache;
using Tandem.Engine.Model;
using Tandem.Server;
using Tandem.Server.Cluster;
using Tandem.Server.Hosting;
using Tandem.Server.Logging;
using Tandem.Planning.Profiles;
using Tandem.Planning.Replanning;
using Tandem.Planning.Search;
using Tandem.Serving;
using Tandem.Serving.Instances;

namespace Tandem.Cli.Commands;

/// <summary>
/// <c>tandem serve</c>: starts the serving runtime (disaggregated by default: one prefill and one decode instance
/// splitting the machine's cores) behind the OpenAI-compatible API, prints what runs where, and serves until
/// Ctrl+C or SIGTERM; then drains (503 for new requests, up to --shutdown-timeout for those in flight) and stops the
/// server and the runtime. Exit code 1 when requests had to be cut at the deadline.
/// </summary>
public static class ServeCommand
{
    public static Command Create(CliConsole console)
    {
        var model = ModelArgument.Create(bundledDefault: true);
        var mode = new Option<string>("--mode") { Description = "disaggregated (DistServe), colocated (vLLM-style) or chunked (Sarathi-Serve)", DefaultValueFactory = _ => "disaggregated" };
        mode.AcceptOnlyFromAmong("disaggregated", "colocated", "chunked");
        var prefill = new Option<int>("--prefill-instances") { Description = "Prefill instances (disaggregated)", DefaultValueFactory = _ => 1 };
        var decode = new Option<int>("--decode-instances") { Description = "Decode instances (disaggregated)", DefaultValueFactory = _ => 1 };
        var instances = new Option<int>("--instances") { Description = "Instances (colocated, chunked)", DefaultValueFactory = _ => 1 };
        var coresPer = new Option<int?>("--cores-per-instance") { Description = "Cores per instance, taken in order (default: the allowed cores split evenly)" };
        var coreLists = new Option<string?>("--cores") { Description = "Explicit cores per instance, prefill first: e.g. \"0-3;4-7\" or \"0,2;1,3\"" };
        var prio = new Option<int>("--prio")
        {
            Description = "Priority of the instances' threads (the engine's; Kestrel's and the rest stay normal), as llama.cpp's --prio: "
                + "-1 low, 0 normal, 1 medium, 2 high, 3 realtime (nice 5, 0, -5, -10, -20). Above normal needs CAP_SYS_NICE; a warning says when it is refused",
            DefaultValueFactory = _ => 0,
        };
        var kvMemory = new Option<string>("--kv-memory") { Description = "KV cache memory per instance, e.g. 512MiB, 2GiB: one request's prompt + completion must fit in it (start-up prints how many tokens it holds)", DefaultValueFactory = _ => "256MiB" };
        var kvType = new Option<string>("--kv-type") { Description = "KV cache element type", DefaultValueFactory = _ => "f16" };
        kvType.AcceptOnlyFromAmong("f32", "f16");
        var prefillTarget = new Option<int>("--prefill-token-target")
        {
            Description = "Prompt tokens a prefill instance batches per step (DistServe's L_m)",
            DefaultValueFactory = _ => new ServingOptions().PrefillTokenTarget,
        };
        var chunkBudget = new Option<int>("--chunk-budget")
        {
            Description = "Tokens per step in chunked mode (decode tokens first, prompt chunks fill the rest)",
            DefaultValueFactory = _ => new ServingOptions().ChunkBudget,
        };
        var context = new Option<int?>("--ctx-size", "-c") { Description = "Longest prompt + completion per request (default: the model's context)" };
        var host = new Option<string>("--host") { Description = "Address or host name to listen on (a name listens on every address it resolves to)", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = "Port to listen on (0: any free port)", DefaultValueFactory = _ => 8000 };
        var servedName = new Option<string?>("--served-model-name") { Description = "Model name clients send (default: the file name without .gguf)" };
        var shutdownTimeout = new Option<double>("--shutdown-timeout")
        {
            Description = "Seconds requests in flight may run after SIGTERM / Ctrl+C (new ones get 503 at once; a cluster worker refuses new work and lets held KV be pulled); those still running then end with finish_reason \"abort\" (a worker's are recomputed elsewhere) and the exit code is 1",
            DefaultValueFactory = _ => new TandemApiOptions().ShutdownTimeout.TotalSeconds,
        };
        var role = new Option<string>("--role")
        {
            Description = "all: one process (default). frontend: the OpenAI API and controller over remote workers. prefill / decode: a worker for a frontend",
            DefaultValueFactory = _ => "all",
        };
        role.AcceptOnlyFromAmong("all", "frontend", "prefill", "decode");
        var prefillWorkers = new Option<string?>("--prefill-workers") { Description = "Frontend: prefill workers as host:port,... (a name that resolves to several addresses, e.g. a headless Service, is one worker per address)" };
        var decodeWorkers = new Option<string?>("--decode-workers") { Description = "Frontend: decode workers as host:port,..." };
        var frontend = new Option<string?>("--frontend") { Description = "Prefill / decode worker: register with the frontend at this URL (e.g. http://frontend:8000) instead of being listed there" };
        var advertise = new Option<string?>("--advertise-address") { Description = "Worker with --frontend: the URL the frontend calls this worker at (default: http://<--host or the machine name>:<port>)" };
        var clusterToken = new Option<string?>("--cluster-token") { Description = $"Shared secret of the frontend and its workers (default: ${ClusterToken.EnvironmentVariable}); calls without it are refused" };
        var workerTimeout = new Option<double>("--worker-timeout")
        {
            Description = "Frontend: seconds without a heartbeat answer after which a worker is taken as down and its requests go elsewhere",
            DefaultValueFactory = _ => 5,
        };
        var kvLease = new Option<double>("--kv-lease")
        {
            Description = "Prefill worker: seconds prefilled KV waits for a decode worker to pull it before it is freed",
            DefaultValueFactory = _ => 30,
        };
        var kvTransport = new Option<string>("--kv-transport")
        {
            Description = "Decode worker: how KV comes from prefill workers. grpc: streamed over the network (default). shm: through a file in /dev/shm (both workers on one host). auto: shm when the prefill worker sees the same /dev/shm, else grpc",
            DefaultValueFactory = _ => "grpc",
        };
        kvTransport.AcceptOnlyFromAmong("grpc", "shm", "auto");
        var kvOverlap = new Option<bool>("--kv-overlap")
        {
            Description = "Frontend: start each request's decode side when its prefill starts, so the decode worker reserves the blocks and pulls each chunk's KV while later chunks (--prefill-token-target on the prefill workers) are computed. Off: the pull starts after the prefill (the default; see docs/experiments/scale-out.md)",
        };
        var planFile = new Option<string?>("--plan") { Description = "Start the placement a plan.json from 'tandem plan' chose (sets --mode, the instance counts, their cores, --prefill-token-target and --chunk-budget)" };
        var replanWindow = new Option<double>("--replan-window") { Description = "With --plan: seconds of traffic (rate, prompt and answer lengths) compared with what the plan was made for", DefaultValueFactory = _ => new ReplanOptions().WindowSeconds };
        var replanThreshold = new Option<double>("--replan-threshold") { Description = "With --plan: relative drift of the rate or a mean length (0.25 = 25%) that re-runs the planner; its recommendation goes to the log, /metrics and GET /plan", DefaultValueFactory = _ => new ReplanOptions().Threshold };
        var noPrefixCaching = new Option<bool>("--no-prefix-caching")
        {
            Description = "Turn off automatic prefix caching (on by default: full KV blocks stay cached by a hash of their tokens and prefix, and a prompt reuses its longest cached prefix; outputs are the same either way)",
        };
        var kvDiskDir = new Option<string?>("--kv-disk-dir")
        {
            Description = "A directory for the KV disk tier: cached KV blocks evicted from RAM are written there (one file per block, checksummed) and read back when a prompt's cached prefix continues on disk; kept across restarts. One directory per process",
        };
        var kvDiskSize = new Option<string?>("--kv-disk-size") { Description = "With --kv-disk-dir: most bytes of KV blocks on disk, e.g. 4GiB (the default); least recently used blocks are deleted beyond it" };
        var kvDiskPolicy = new Option<string>("--kv-disk-policy")
        {
            Description = "With --kv-disk-dir: auto (an instance reads from disk only where start-up measures a cold read of a block faster than recomputing it on its cores) or always",
            DefaultValueFactory = _ => "auto",
        };
        kvDiskPolicy.AcceptOnlyFromAmong("auto", "always");
        var routing = new Option<string>("--routing")
        {
            Description = "How a prompt picks its prefill (or colocated) instance, or with --role frontend its prefill worker: cache-aware (the least queued prompt tokens + uncached tokens of this prompt there, Dynamo's overlap-against-load rule), least-loaded (shortest queue) or round-robin",
            DefaultValueFactory = _ => "cache-aware",
        };
        routing.AcceptOnlyFromAmong("cache-aware", "least-loaded", "round-robin");
        var overlapWeight = new Option<double>("--cache-overlap-weight")
        {
            Description = "cache-aware routing: weight of a prompt's uncached tokens against an instance's queued tokens (higher favours cache hits over balance)",
            DefaultValueFactory = _ => 1.0,
        };
        var localPrefillArguments = new LocalPrefillArguments();
        var localPrefill = localPrefillArguments.Threshold;
        var prefillBusy = localPrefillArguments.BusyTokens;
        var chatTemplate = new Option<string?>("--chat-template")
        {
            Description = "Chat template instead of the model's own: a built-in name (" + string.Join(", ", ChatTemplate.KnownNames) +
                ") or Jinja text. Default: the model's tokenizer.chat_template rendered as Jinja; if it has none (or it fails), ChatML",
        };
        var noWarmup = new Option<bool>("--no-warmup")
        {
            Description = "Skip the warm-up: by default the server sends itself a few short requests (completion, chat, streamed and not; a frontend "
                + "through a prefill and a decode worker once both joined) before /health/ready turns 200 (one process: before 'listening on' too), so a "
                + "client's first request does not pay for compiling the serving path. They count in no metric, log or trace",
        };
        var weights = WeightsArgument.Create();
        var chatTemplateFile = new Option<string?>("--chat-template-file") { Description = "A file holding a Jinja chat template, used instead of the model's own (and of --chat-template)" };

        var command = new Command(Name, "Serve a model over an OpenAI-compatible HTTP API (completions, chat, streaming, /health, /metrics).")
        {
            model, mode, prefill, decode, instances, coresPer, coreLists, prio, kvMemory, kvType, noPrefixCaching, kvDiskDir, kvDiskSize, kvDiskPolicy, routing, overlapWeight, localPrefill, prefillBusy, prefillTarget, chunkBudget, context, host, port, servedName, chatTemplate, chatTemplateFile, shutdownTimeout, planFile, replanWindow, replanThreshold,
            role, prefillWorkers, decodeWorkers, frontend, advertise, clusterToken, workerTimeout, kvLease, kvTransport, kvOverlap, noWarmup, weights,
        };
        var access = new AccessArguments();
        foreach (var option in access.All) command.Options.Add(option);
        var admission = new AdmissionArguments();
        foreach (var option in admission.All) command.Options.Add(option);
        var observability = new ObservabilityArguments();
        foreach (var option in observability.All) command.Options.Add(option);
        // Last: every option above, whoever added it, also reads TANDEM_<OPTION> and --config.
        LayeredOptions.Enable(command);
        command.SetAction(async (parse, cancellation) =>
        {
            int listenPort = parse.GetValue(port);
            if (listenPort is < 0 or > 65535) throw new CliUsageException($"--port must be between 0 and 65535, got {listenPort}");
            int priority = parse.GetValue(prio);
            if (priority is < -1 or > 3) throw new CliUsageException($"--prio must be -1 (low), 0 (normal), 1 (medium), 2 (high) or 3 (realtime), got {priority}");
            double graceSeconds = parse.GetValue(shutdownTimeout);
            if (!(graceSeconds >= 0 && graceSeconds <= MaxShutdownTimeoutSeconds))
                throw new CliUsageException($"--shutdown-timeout must be between 0 and {MaxShutdownTimeoutSeconds} seconds, got {graceSeconds.ToString(CultureInfo.InvariantCulture)}");
                        var servingMode = Enum.Parse<ServingMode>(parse.GetValue(mode)!, ignoreCase: true);
            var kvBytes = ParseBytes(parse.GetValue(kvMemory)!, "--kv-memory");
            string? diskDir = parse.GetValue(kvDiskDir);
            if (diskDir is null && new Option[] { kvDiskSize, kvDiskPolicy }.FirstOrDefault(o => parse.GetResult(o) is { Implicit: false }) is { } diskOrphan)
                throw new CliUsageException($"{diskOrphan.Name} needs --kv-disk-dir: it configures the KV disk tier");
            if (diskDir is not null && parse.GetValue(noPrefixCaching))
                throw new CliUsageException("--kv-disk-dir keeps the blocks the prefix cache evicts: drop --no-prefix-caching");
            if (diskDir is not null && parse.GetValue(role) == "frontend")
                throw new CliUsageException("--kv-disk-dir goes to the workers: a frontend holds no KV");
            long diskBytes = parse.GetValue(kvDiskSize) is { } size ? ParseBytes(size, "--kv-disk-size") : ServingOptions.DefaultKvDiskBytes;
            string? templateName = parse.GetValue(chatTemplate);
            string? templateFile = parse.GetValue(chatTemplateFile);
            if (templateName is not null || templateFile is not null)
            {
                // A typo or a broken file stops here, before any model is loaded.
                try { _ = ChatTemplateChoice.Choose(templateName, templateFile, null, "", ""); }
                catch (ChatTemplateException e) { throw new CliUsageException(e.Message); }
            }

            var accessOptions = access.Read(parse, Environment.GetEnvironmentVariable);
            string roleName = parse.GetValue(role)!;
            var cluster = new ClusterArguments(
                roleName,
                SplitList(parse.GetValue(prefillWorkers)),
                SplitList(parse.GetValue(decodeWorkers)),
                parse.GetValue(frontend),
                parse.GetValue(advertise),
                parse.GetValue(clusterToken) ?? Environment.GetEnvironmentVariable(ClusterToken.EnvironmentVariable),
                Seconds(parse.GetValue(workerTimeout), "--worker-timeout"),
                Seconds(parse.GetValue(kvLease), "--kv-lease"),
                Enum.Parse<KvTransport>(parse.GetValue(kvTransport)!, ignoreCase: true),
                parse.GetValue(kvOverlap));
            cluster.Validate(servingMode, parse.GetResult(mode) is { Implicit: false }, parse.GetResult(kvTransport) is { Implicit: false });
            var replanOptions = new ReplanOptions { WindowSeconds = parse.GetValue(replanWindow), Threshold = parse.GetValue(replanThreshold) };
            try { replanOptions.Validate(); }
            catch (ArgumentOutOfRangeException e) { throw new CliUsageException(e.Message.Replace($" (Parameter '{e.ParamName}')", "")); }
            string? planPath = parse.GetValue(planFile);
            PlanFile? plan = null;
            if (planPath is not null)
            {
                Option[] setByPlan = [mode, prefill, decode, instances, coresPer, coreLists, prefillTarget, chunkBudget, localPrefill, prefillBusy];
                if (setByPlan.FirstOrDefault(o => parse.GetResult(o) is { Implicit: false }) is { } clash)
                    throw new CliUsageException($"--plan sets the placement: drop {clash.Name}, or drop --plan");
                try { plan = PlanFileJson.Read(planPath); }
                catch (ArgumentException e) { throw new CliUsageException(e.Message); }
            }
            else if (new Option[] { replanWindow, replanThreshold }.FirstOrDefault(o => parse.GetResult(o) is { Implicit: false }) is { } orphan)
                throw new CliUsageException($"{orphan.Name} needs --plan: re-planning watches the workload against a plan from 'tandem plan'");
            if (plan is not null && roleName != "all")
                throw new CliUsageException("--plan starts a whole placement in one process: use it with --role all");

            string path = ModelArgument.Resolve(parse.GetValue(model), console, cancellation);
            // A frontend runs no step: its copy of the weights would only take memory, so it maps them unless told.
            string? placement = parse.GetResult(weights) is { Implicit: false } || roleName != "frontend" ? parse.GetValue(weights) : "mapped";
            using var lm = WeightsArgument.Load(path, placement, out string weightsLine);
            var options = new ServingOptions
            {
                Model = lm,
                Mode = servingMode,
                PrefillInstances = parse.GetValue(prefill),
                DecodeInstances = parse.GetValue(decode),
                ColocatedInstances = parse.GetValue(instances),
                CoresPerInstance = parse.GetValue(coresPer),
                InstanceCores = parse.GetValue(coreLists) is { } lists ? ParseCoreLists(lists) : null,
                InstanceNice = priority switch { -1 => 5, 1 => -5, 2 => -10, 3 => -20, _ => 0 },
                KvBytesPerInstance = kvBytes,
                KvElementType = parse.GetValue(kvType) == "f32" ? KvElementType.F32 : KvElementType.F16,
                PrefixCaching = !parse.GetValue(noPrefixCaching),
                KvDiskDir = diskDir,
                KvDiskBytes = diskBytes,
                KvDiskPolicy = parse.GetValue(kvDiskPolicy) == "always" ? KvDiskPolicy.Always : KvDiskPolicy.Auto,
                Routing = parse.GetValue(routing) switch { "least-loaded" => EntryRouting.LeastLoaded, "round-robin" => EntryRouting.RoundRobin, _ => EntryRouting.CacheAware },
                CacheOverlapWeight = parse.GetValue(overlapWeight),
                LocalPrefillThreshold = parse.GetValue(localPrefill),
                PrefillBusyTokens = parse.GetValue(prefillBusy),
                MaxContext = parse.GetValue(context),
                PrefillTokenTarget = parse.GetValue(prefillTarget),
                ChunkBudget = parse.GetValue(chunkBudget),
                OnWarning = m => console.Error.WriteLine($"warning: {m}"),
            };
            string? stepLogPath = parse.GetValue(observability.StepLog);
            if (stepLogPath is not null)
            {
                if (roleName != "all")
                    throw new CliUsageException("--step-log records the instances of one process: use it with --role all");
                if (Path.GetDirectoryName(Path.GetFullPath(stepLogPath)) is { } dir && !Directory.Exists(dir))
                    throw new CliUsageException($"--step-log: the directory {dir} does not exist");
                if (Directory.Exists(stepLogPath))
                    throw new CliUsageException($"--step-log: {stepLogPath} is a directory; give a file name");
                options = options with { StepLogCapacity = ObservabilityArguments.StepLogRing };
            }
            if (roleName != "all")
            {
                // A cluster prefills on decode workers only when told: the default threshold is for one process. The
                // frontend decides with its threshold and busy mark; a decode worker takes prompts within its threshold
                // (its per-step budget); a prefill worker has no use for either.
                int Given(Option<int> o) => parse.GetResult(o) is { Implicit: false } ? parse.GetValue(o) : 0;
                options = options with { LocalPrefillThreshold = Given(localPrefill), PrefillBusyTokens = roleName == "frontend" ? Given(prefillBusy) : 0 };
                if (roleName == "decode" && Given(prefillBusy) > 0)
                    throw new CliUsageException($"{prefillBusy.Name} is the frontend's: it decides which prompts go to a decode worker; give a decode worker --local-prefill-threshold only");
                if (roleName == "frontend" && options.PrefillBusyTokens > 0 && options.LocalPrefillThreshold == 0)
                    throw new CliUsageException($"{prefillBusy.Name} sends prompts to decode workers: give {localPrefill.Name} too (to the frontend and the decode workers)");
            }
            if (cluster.IsWorker)
            {
                // A worker runs one instance of its role; --prefill-instances / --decode-instances count processes now.
                options = options with { PrefillInstances = 1, DecodeInstances = 1, InstanceCores = options.InstanceCores is { } c ? [c[0], c[0]] : null };
            }
            try
            {
                if (plan is not null)
                {
                    options = ServingPlan.Apply(plan, options, CpuAffinity.AvailableCores(), planPath!);
                    // The plan's KV budget sized the simulated pools; an explicit --kv-memory still wins, with a warning.
                    if (parse.GetResult(kvMemory) is { Implicit: false } && plan.KvBytesPerInstance is { } planned && planned != kvBytes)
                    {
                        console.Error.WriteLine($"warning: {planPath} was simulated with {planned >> 20} MiB of KV per instance; serving --kv-memory {kvBytes >> 20} MiB instead");
                        options = options with { KvBytesPerInstance = kvBytes };
                    }
                    if (!string.Equals(plan.Model, Path.GetFileName(path), StringComparison.OrdinalIgnoreCase))
                        console.Error.WriteLine($"warning: {planPath} was planned for {plan.Model}'s profile, and this serves {Path.GetFileName(path)}");
                    console.Out.WriteLine($"plan: {planPath} ({plan.Model}, {plan.Workload}, SLO TTFT {plan.SloTtftSeconds} s / TPOT {plan.SloTpotSeconds} s): {plan.Chosen!.Describe()}");
                }
                options.Validate();
            }
            catch (ArgumentException e)
            {
                throw new CliUsageException(e.Message);
            }

            var api = new TandemApiOptions
            {
                ServedModelName = parse.GetValue(servedName) ?? Path.GetFileNameWithoutExtension(path),
                ChatTemplateName = templateName,
                ChatTemplateFile = templateFile,
                ModelChatTemplate = lm.File.GetString("tokenizer.chat_template"),
                ShutdownTimeout = TimeSpan.FromSeconds(graceSeconds),
            };
            var admissionProfile = admission.Apply(parse, api, plan);
            var listen = new TandemServerOptions { Host = parse.GetValue(host)!, Port = listenPort, Api = api, Access = accessOptions };
            observability.Apply(parse, listen);
            // A worker's options are all checked by now (a bad one is its own single error line, without this before it);
            // one process's start-up prints it with the rest of what it serves.
            if (cluster.IsWorker || cluster.Role == "frontend") console.Error.WriteLine(weightsLine);
            if (cluster.IsWorker)
                return await ClusterRoles.RunWorkerAsync(console, cluster, options, listen, cancellation);
            if (cluster.Role == "frontend")
            {
                // The workers' cores are theirs to choose; the frontend estimates with what it was told of them.
                if (admissionProfile is not null)
                    api.PrefillProfile = AdmissionArguments.PrefillModel(admissionProfile, options.CoresPerInstance ?? options.InstanceCores?[0].Count ?? 1, console);
                return await ClusterRoles.RunFrontendAsync(console, cluster, lm, options, listen, warmUp: !parse.GetValue(noWarmup), cancellation);
            }

            // Re-planning needs the profile the plan was made with; it runs beside the server, off the request path.
            await using var replanner = plan is null ? null : StartReplanner(plan, planPath!, replanOptions, console);
            api.Replanner = replanner;

            await using var runtime = ServingRuntime.Start(options);
            // Declared after the runtime, so disposed before it: the last steps are in the file before the loops stop.
            await using var stepLog = stepLogPath is null ? null : StartStepLog(stepLogPath, runtime);
            if (admissionProfile is not null)
            {
                var entry = runtime.Snapshot().Instances.First(i => i.Role is "prefill" or "colocated");
                api.PrefillProfile = AdmissionArguments.PrefillModel(admissionProfile, Math.Max(1, entry.Cores.Count), console);
            }
            TandemServer server;
            try
            {
                server = TandemServer.Create(runtime, listen);
            }
            catch (ChatTemplateException e)
            {
                throw new CliUsageException(e.Message);
            }
            await using (server)
            {
                await server.StartAsync(cancellation);
                var warmUp = parse.GetValue(noWarmup) ? null : await server.WarmUpAsync(accessOptions, options.BlockSize, cancellation);
                PrintStartup(console, runtime, server, api, lm.Config.ContextLength, weightsLine, warmUp);
                return await ServeUntilStoppedAsync(console, server, graceSeconds, cancellation);
            }
        });
        return command;
    }

    /// <summary>
    /// Serves until Ctrl+C / SIGTERM, which reach the host's console lifetime (TandemApp leaves these signals to it):
    /// the drain refuses new requests and lets those in flight finish, up to --shutdown-timeout. 1 when some were cut.
    /// </summary>
    internal static async Task<int> ServeUntilStoppedAsync(CliConsole console, TandemServer server, double graceSeconds, CancellationToken cancellation)
    {
        using var announce = server.Lifetime.ApplicationStopping.Register(() => console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"stopping: refusing new requests, letting those in flight finish (up to {graceSeconds:0.###} s)")));
        try
        {
            await server.WaitForShutdownAsync(cancellation);
        }
        catch (OperationCanceledException) { }
        await server.StopAsync(CancellationToken.None);
        int cut = server.Api.Shutdown.RequestsCut;
        if (cut > 0)
        {
            console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"stopped: {cut} request(s) still running after {graceSeconds:0.###} s were ended with finish_reason \"abort\""));
            return 1;
        }
        console.Error.WriteLine("stopped: every request finished");
        return 0;
    }

    // The file opens once the runtime is up (it lists the runtime's instances): a path that cannot be written is still
    // the option's error, not a bare I/O message.
    private static StepLogFile StartStepLog(string path, ServingRuntime runtime)
    {
        try
        {
            return StepLogFile.Start(path, runtime.StepLogs, TimeSpan.FromSeconds(1));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliUsageException($"--step-log: cannot write {path}: {e.Message}");
        }
    }

    private static IReadOnlyList<string> SplitList(string? text) =>
        text == null ? [] : text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);

    private static TimeSpan Seconds(double value, string option)
    {
        if (!(value > 0 && value <= MaxShutdownTimeoutSeconds))
            throw new CliUsageException($"{option} must be between 0 and {MaxShutdownTimeoutSeconds} seconds (exclusive of 0), got {value.ToString(CultureInfo.InvariantCulture)}");
        return TimeSpan.FromSeconds(value);
    }

    private static Replanner? StartReplanner(PlanFile plan, string planPath, ReplanOptions options, CliConsole console)
    {
        LatencyProfile profile;
        try
        {
            profile = LatencyProfileJson.Read(plan.Profile);
        }
        catch (Exception e) when (e is ArgumentException or IOException)
        {
            console.Error.WriteLine($"warning: re-planning is off: {planPath} was made with {plan.Profile}, which cannot be read ({e.Message})");
            return null;
        }
        var replanner = new Replanner(plan, profile, options, log: line => { lock (console) console.Error.WriteLine(line); });
        replanner.Start();
        console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"re-planning: every {options.WindowSeconds:0.###} s window is compared with the plan's workload; a drift past {options.Threshold:P0} re-runs the planner (GET /plan)"));
        return replanner;
    }

    /// <summary>The command name; <see cref="TandemApp"/> leaves its SIGTERM / Ctrl+C to the server's own drain.</summary>
    public const string Name = "serve";

    /// <summary>A day: longer is surely a mistake (and past what the host's timers take).</summary>
    private const int MaxShutdownTimeoutSeconds = 86400;

    private static void PrintStartup(CliConsole console, ServingRuntime runtime, TandemServer server, TandemApiOptions api, int trainedContext, string weightsLine,
        ServingWarmUp.Report? warmUp)
    {
        var o = runtime.Options;
        console.Out.WriteLine($"model: {api.ServedModelName} ({runtime.Config.ArchitectureName}, {runtime.Config.BlockCount} layers, trained context {trainedContext})");
        console.Out.WriteLine(weightsLine);
        console.Out.WriteLine($"mode: {runtime.Mode.ToString().ToLowerInvariant()} | max context {runtime.MaxContext} | KV {o.KvElementType.ToString().ToLowerInvariant()}, {o.BlockSize} tokens per block, prefix caching {(o.PrefixCaching ? "on" : "off")}"
            + (runtime.Mode == ServingMode.Disaggregated ? LocalPrefillSummary(o) : ""));
        var instances = runtime.Snapshot().Instances;
        foreach (var i in instances)
        {
            int tokens = i.KvBlocksTotal * o.BlockSize;
            console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {i.Name,-14} {i.Role,-10} cores [{string.Join(",", i.Cores)}]  KV {i.KvBlocksTotal} blocks ({tokens} tokens, {(double)tokens / runtime.MaxContext:0.##}× the {runtime.MaxContext}-token context)"));
        }
        WarnIfKvCannotHoldTheContext(console, runtime, instances);
        if (runtime.KvDisk is { } disk) console.Out.WriteLine(disk.Describe(instances.Select(i => (i.Name, Math.Max(1, i.Cores.Count)))));
        console.Out.WriteLine(server.Api.Chat.Describe());
        if (AdmissionSummary(api) is { } summary) console.Out.WriteLine(summary);
        console.Out.WriteLine(warmUp?.Describe() ?? "warm-up: off (--no-warmup): the first requests compile the serving path");
        console.Out.WriteLine($"listening on {server.Address} (OpenAI API at {server.Address}v1, /health, /metrics); Ctrl+C stops");
        console.Out.Flush();
    }

    /// <summary>Disaggregated mode: where short prompts are prefilled (conditional disaggregation), for the start-up report's mode line.</summary>
    private static string LocalPrefillSummary(ServingOptions o) => o.LocalPrefillThreshold == 0
        ? " | local prefill off (every prompt through a prefill instance)"
        : $" | local prefill: prompts with at most {o.LocalPrefillThreshold} uncached tokens on a decode instance"
            + (o.PrefillBusyTokens > 0 ? $", every prompt while each prefill instance has {o.PrefillBusyTokens} queued" : "");

    /// <summary>What admission control does, when any of it is on: one line for the start-up report.</summary>
    private static string? AdmissionSummary(TandemApiOptions api)
    {
        var parts = new List<string>();
        if (api.MaxWaitingRequests is int max) parts.Add($"at most {max} waiting");
        if (api.SloTtft is { } slo)
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"TTFT SLO {slo.TotalSeconds:0.###} s estimated from {(api.PrefillProfile is null ? "step times measured live" : "the latency profile")}"));
        if (api.RequestTimeout is { } timeout) parts.Add(string.Create(CultureInfo.InvariantCulture, $"requests end after {timeout.TotalSeconds:0.###} s"));
        if (parts.Count == 0) return null;
        string refusals = api.MaxWaitingRequests is not null || api.SloTtft is not null ? " (refused requests get 429 with Retry-After)" : "";
        return $"admission: {string.Join(", ", parts)}{refusals}";
    }

    /// <summary>
    /// A request needs KV for its whole prompt + completion on one instance: when the smallest pool holds less than
    /// the context, say so (long requests are refused with kv_capacity_exceeded and the default max_tokens is cut)
    /// and how much --kv-memory a full-context request needs.
    /// </summary>
    private static void WarnIfKvCannotHoldTheContext(CliConsole console, ServingRuntime runtime, IReadOnlyList<InstanceSnapshot> instances)
    {
        var o = runtime.Options;
        int context = runtime.MaxContext;
        var small = instances.Where(i => (long)i.KvBlocksTotal * o.BlockSize < context).ToList();
        if (small.Count == 0)
            return;
        long perToken = KvBlockPool.BytesPerToken(runtime.Config, o.KvElementType);
        long needed = ((long)context + o.BlockSize - 1) / o.BlockSize * o.BlockSize * perToken;
        long neededMiB = (needed + (1L << 20) - 1) >> 20;
        console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"warning: the KV cache of {string.Join(", ", small.Select(i => i.Name))} holds {runtime.KvCapacityTokens} tokens, fewer than the " +
            $"{context}-token context: a request can have at most {runtime.KvCapacityTokens} tokens of prompt and completion (longer ones are " +
            $"refused with kv_capacity_exceeded; the default max_tokens is cut to fit). A full-context request needs --kv-memory {neededMiB}MiB or more."));
    }

    /// <summary>"512MiB", "2GiB", "1.5G", "1000000" (bytes); binary units whether or not the "i" is written, as llama.cpp reads sizes.</summary>
    internal static long ParseBytes(string text, string option)
    {
        string s = text.Trim();
        int end = s.Length;
        while (end > 0 && char.IsLetter(s[end - 1])) end--;
        string unit = s[end..].ToUpperInvariant().Replace("I", "").TrimEnd('B');
        long scale = unit switch
        {
            "" => 1,
            "K" => 1L << 10,
            "M" => 1L << 20,
            "G" => 1L << 30,
            "T" => 1L << 40,
            _ => 0,
        };
        if (scale == 0 || !double.TryParse(s[..end], NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || !(value > 0) || value * scale > long.MaxValue)
            throw new CliUsageException($"{option} must be a size such as 512MiB or 2GiB, got '{text}'");
        return (long)(value * scale);
    }

    /// <summary>"0-3;4-7": one list per instance, separated by ';', each of core ids and ranges separated by ','.</summary>
    internal static IReadOnlyList<IReadOnlyList<int>> ParseCoreLists(string text)
    {
        var result = new List<IReadOnlyList<int>>();
        foreach (var instance in text.Split(';', StringSplitOptions.TrimEntries))
        {
            var cores = new List<int>();
            foreach (var item in instance.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                var range = item.Split('-', StringSplitOptions.TrimEntries);
                if (range.Length is < 1 or > 2 || !int.TryParse(range[0], out int lo) || !int.TryParse(range[^1], out int hi) || lo < 0 || hi < lo)
                    throw new CliUsageException($"--cores: '{item}' is not a core id or range (e.g. 0-3;4-7)");
                for (int c = lo; c <= hi; c++) cores.Add(c);
            }
            if (cores.Count == 0) throw new CliUsageException($"--cores: every instance needs at least one core, in '{text}'");
            result.Add(cores);
        }
        return result;
    }
}
