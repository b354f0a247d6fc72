using System.CommandLine;
using Tandem.Engine.KvCache;
using Tandem.Planning.Profiles;

namespace Tandem.Cli.Commands;

/// <summary><c>tandem profile</c>: times the engine per core count and fits DistServe's latency model (a profile for <c>tandem simulate</c> and the planner).</summary>
public static class ProfileCommand
{
    public static Command Create(CliConsole console)
    {
        var model = ModelArgument.Create(bundledDefault: false, "GGUF model to profile");
        var cores = new Option<string>("--cores") { Description = "Core counts (threads per instance) to profile, comma-separated, e.g. 1,2", DefaultValueFactory = _ => "1" };
        var kvType = new Option<string>("--kv-type") { Description = "KV cache element type the server will use (its --kv-type)", DefaultValueFactory = _ => "f16" };
        kvType.AcceptOnlyFromAmong("f32", "f16");
        var target = new Option<int>("--prefill-token-target") { Description = "Most prompt tokens per prefill step to time (the server's --prefill-token-target)", DefaultValueFactory = _ => 512 };
        var repeats = new Option<int>("--repeats") { Description = "Timed runs per shape (the fastest is kept: other work on the machine only adds time)", DefaultValueFactory = _ => 2 };
        var quick = new Option<bool>("--quick") { Description = "A few small shapes, one run each: a smoke test in seconds, not a profile to plan with" };
        var noPin = new Option<bool>("--no-pin") { Description = "Do not pin threads to cores 0..n-1" };
        var cpuClock = new Option<bool>("--cpu-time") { Description = "Time steps by CPU time per thread, not the wall clock: on a machine busy with other work it leaves their share out" };
        var output = new Option<string>("--out", "-o") { Description = "Where to write the profile JSON", Required = true };
        var command = new Command("profile", "Time prefill and decode steps of the real engine for each core count and fit the latency model: prefill a + b·Σl + c·Σl², decode a + b·Σctx + c·batch.")
        {
            model, cores, kvType, target, repeats, quick, noPin, cpuClock, output,
        };
        command.SetAction(parse =>
        {
            var counts = BenchCommands.Parse(() => parse.GetValue(cores)!.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
                .Select(c => int.TryParse(c, out int n) && n > 0 ? n : throw new ArgumentException($"--cores: '{c}' is not a positive core count")).ToList());
            if (parse.GetValue(target) < 1) throw new CliUsageException("--prefill-token-target must be at least 1");
            string modelPath = ModelArgument.Resolve(parse.GetValue(model), console);
            console.Error.WriteLine($"profiling {modelPath} on {string.Join(", ", counts)} core(s); load average {EngineProfiler.LoadAverage()} (other work on the machine skews the times)");
            var profile = BenchCommands.Parse(() => EngineProfiler.Run(new ProfilerOptions
            {
                ModelPath = modelPath,
                Cores = counts,
                KvType = parse.GetValue(kvType) == "f32" ? KvElementType.F32 : KvElementType.F16,
                MaxBatchTokens = parse.GetValue(target),
                Repeats = parse.GetValue(repeats),
                Quick = parse.GetValue(quick),
                Pin = !parse.GetValue(noPin),
                CpuTime = parse.GetValue(cpuClock),
            }, line => console.Error.WriteLine(line)));
            LatencyProfileJson.Write(parse.GetValue(output)!, profile);
            foreach (var c in profile.Configs)
                console.Out.WriteLine($"{c.Tp} core(s): prefill {c.Prefill.A * 1000:G4} ms + {c.Prefill.B * 1000:G4} ms·Σl + {c.Prefill.C * 1000:G4} ms·Σl²" +
                    $" (held-out error mean {c.PrefillFit!.MeanRelativeError:P1}, max {c.PrefillFit.MaxRelativeError:P1}); " +
                    $"decode {string.Join("; ", c.Decode.Select(DescribePiece))}" +
                    $" (mean {c.DecodeFit!.MeanRelativeError:P1}, max {c.DecodeFit.MaxRelativeError:P1})");
            console.Error.WriteLine($"profile: {parse.GetValue(output)} (load average now {EngineProfiler.LoadAverage()})");
            console.Out.Flush();
            return 0;
        });
        return command;
    }

    private static string DescribePiece(DecodePiece p) =>
        (p.MaxBatch is int max ? $"batch ≤ {max}: " : "") +
        $"{p.Coefficients.A * 1000:G4} ms + {p.Coefficients.B * 1000:G4} ms·Σctx + {p.Coefficients.C * 1000:G4} ms·batch";
}
