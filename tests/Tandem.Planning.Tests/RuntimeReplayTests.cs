using System.Collections.Concurrent;
using Tandem.Benchmark.Workloads;
using Tandem.Engine.Tests;
using Tandem.Planning.Profiles;
using Tandem.Planning.Simulation;
using Tandem.Serving;
using Tandem.Serving.Scheduling;

namespace Tandem.Planning.Tests;

/// <summary>
/// The simulator schedules what the server schedules: a real <see cref="ServingRuntime"/> serves a scripted arrival
/// sequence (bursts and gaps, different prompt and answer lengths) with its trace on; the simulator then replays it —
/// arrivals when the runtime took them in, each step lasting as long as the runtime's did — and every instance must
/// run the same batches (requests and token counts, in order) and pull the same requests.
/// </summary>
public class RuntimeReplayTests
{
    private sealed class Trace : IServingTrace
    {
        public readonly ConcurrentQueue<(string Instance, string Request, double Time)> Intakes = new();
        public readonly ConcurrentQueue<(string Instance, double Start, double End, string Batch)> Steps = new();

        public void OnIntake(string instance, string requestId, double time) => Intakes.Enqueue((instance, requestId, time));

        public void OnStep(string instance, double start, double end, IReadOnlyList<TracedChunk> chunks, IReadOnlyList<string> pulled) =>
            Steps.Enqueue((instance, start, end, Describe(chunks.Select(c => (c.RequestId, c.Tokens)), pulled)));
    }

    internal static string Describe(IEnumerable<(string Request, int Tokens)> chunks, IEnumerable<string> pulled) =>
        string.Join(" ", chunks.Select(c => $"{c.Request}:{c.Tokens}")) + " | pull " + string.Join(" ", pulled);

    /// <summary>Replays the trace: instance i of the simulator is runtime instance <c>names[i]</c>.</summary>
    private sealed class Replay(Trace trace, string[] names) : IStepReplay
    {
        private readonly List<(double Start, double End, string Batch)>[] _steps =
            names.Select(n => trace.Steps.Where(s => s.Instance == n).OrderBy(s => s.Start).Select(s => (s.Start, s.End, s.Batch)).ToList()).ToArray();
        private readonly int[] _next = new int[names.Length];
        public readonly List<string>[] Scheduled = names.Select(_ => new List<string>()).ToArray();

        public double NextStepStart(int instance) =>
            _next[instance] < _steps[instance].Count ? _steps[instance][_next[instance]].Start : double.NegativeInfinity;

        public double Step(int instance, SchedulerOutput output, double now)
        {
            Scheduled[instance].Add(Describe(output.Scheduled.Select(c => (c.Request.RequestId, c.NumTokens)), output.ToPull.Select(r => r.RequestId)));
            int k = _next[instance]++;
            // A step the runtime never ran takes a millisecond; the batch lists then differ, which the test reports.
            return k < _steps[instance].Count ? Math.Max(0, _steps[instance][k].End - now) : 0.001;
        }

        public double? MigrationIntake(Request request) =>
            trace.Intakes.Where(i => i.Request == request.RequestId && i.Instance.StartsWith("decode", StringComparison.Ordinal))
                .Select(i => (double?)i.Time).Where(t => t >= 0).OrderBy(t => t).FirstOrDefault();

        public List<string> Recorded(int instance) => _steps[instance].Select(s => s.Batch).ToList();
    }

    [Theory]
    [InlineData(ServingMode.Disaggregated)]
    [InlineData(ServingMode.Colocated)]
    [InlineData(ServingMode.Chunked)]
    public async Task Simulator_and_runtime_schedule_identical_batches_for_a_scripted_arrival_sequence(ServingMode mode)
    {
        var trace = new Trace();
        await using var runtime = ServingRuntime.Start(new ServingOptions
        {
            ModelPath = TestPaths.Model("stories260K.gguf"),
            Mode = mode,
            PinThreads = false,
            CoresPerInstance = 1,
            KvBlocksPerInstance = 512, // no preemption: the replay compares scheduling, not memory pressure
            PrefillTokenTarget = 48,   // prompts of up to 60 tokens: batches of several, and chunks of long ones
            ChunkBudget = 24,
            LocalPrefillThreshold = 0, // every prompt through prefill-0 (its intake is each request's arrival below)
            Trace = trace,
        });

        // Bursts and gaps: (delay before, prompt length, answer length).
        (int DelayMs, int Prompt, int Answer)[] script =
        [
            (0, 12, 6), (0, 30, 9), (0, 7, 3), (0, 60, 12), (2, 20, 5), (0, 9, 14), (6, 40, 4), (1, 5, 10),
            (0, 25, 7), (0, 18, 2), (12, 33, 8), (0, 3, 11), (3, 50, 6), (0, 14, 9), (0, 22, 1), (20, 8, 13),
        ];
        var rng = new Random(5);
        var prompts = script.Select(s => Enumerable.Range(0, s.Prompt).Select(_ => rng.Next(3, 500)).ToArray()).ToArray();
        var handles = new List<RequestHandle>();
        for (int i = 0; i < script.Length; i++)
        {
            if (script[i].DelayMs > 0) await Task.Delay(script[i].DelayMs);
            handles.Add(runtime.Submit(new GenerationRequest { Id = i.ToString(), PromptTokens = prompts[i], MaxTokens = script[i].Answer, IgnoreEos = true }));
        }
        foreach (var h in handles) await h.Completion.WaitAsync(TimeSpan.FromSeconds(60));

        string[] names = mode == ServingMode.Disaggregated ? ["prefill-0", "decode-0"] : ["colocated-0"];
        var replay = new Replay(trace, names);
        var requests = script.Select((s, i) => new BenchRequest(i, null, prompts[i], s.Prompt, s.Answer)).ToArray();
        // A request arrives when the first instance took it in (the runtime's loop saw it then, not at Submit).
        var arrivals = requests.Select(r => trace.Intakes.Where(t => t.Request == r.Index.ToString() && t.Instance == names[0]).Min(t => t.Time)).ToArray();
        var placement = new Placement { Mode = mode, KvBlocksPerInstance = 512, PrefillTokenTarget = 48, ChunkBudget = 24, LocalPrefillThreshold = 0 };
        var sim = new ServingSimulation(placement, SyntheticProfiles.Constant(0.001)) { Replay = replay };
        var result = sim.Run(requests, arrivals);

        Assert.All(result.Records, r => Assert.True(r.Success));
        for (int i = 0; i < names.Length; i++) Assert.Equal(replay.Recorded(i), replay.Scheduled[i]);
        Assert.Contains(replay.Scheduled[0], b => b.Split(' ').Length > 4); // a real batch of several prompts was compared
    }
}
