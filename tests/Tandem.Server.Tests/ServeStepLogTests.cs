using System.Net;
using System.Text.Json.Nodes;
using Tandem.Serving.Diagnostics;

namespace Tandem.Server.Tests;

/// <summary>
/// <c>tandem serve --step-log FILE</c> and <c>--prio N</c> on a real server process: the file, completed at SIGTERM,
/// accounts for every token the requests computed, instance by instance; the priority reaches the instances' threads
/// only, and without CAP_SYS_NICE a raised one is refused with a warning while the server serves.
/// </summary>
public sealed class ServeStepLogTests
{
    private static readonly TimeSpan ExitLimit = TimeSpan.FromSeconds(90);
    private const int CapSysNice = 23;

    [Fact]
    public async Task The_step_log_of_a_disaggregated_server_holds_every_token_its_requests_computed()
    {
        string path = Path.Combine(Path.GetTempPath(), "tandem-tests", $"steps-{Guid.NewGuid():N}.jsonl");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        try
        {
            // Every prompt prefilled on the prefill instance and pulled by the decode one; nothing served from a cache.
            // --no-warmup: the step log holds every step the instances ran, the warm-up's too (it is what the machine did,
            // for replay), and this test accounts for its own requests' tokens exactly.
            await using var server = await ServeProcess.StartAsync("--step-log", path, "--local-prefill-threshold", "0", "--no-prefix-caching", "--no-warmup");
            string[] prompts = ["Once upon a time", "Lily and Ben went to the park", "The little dog was sad because he"];
            int[] maxTokens = [4, 9, 14];
            var replies = await Task.WhenAll(prompts.Select((p, i) =>
            {
                var body = ApiCalls.Completion(p, maxTokens[i]);
                body["ignore_eos"] = true;
                return server.Http.PostAsync("/v1/completions", body);
            }));
            Assert.All(replies, r => Assert.Equal(HttpStatusCode.OK, r.Status));
            int[] promptTokens = replies.Select(r => r.Body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32()).ToArray();
            Assert.Equal(maxTokens, replies.Select(r => r.Body.GetProperty("usage").GetProperty("completion_tokens").GetInt32()));

            server.Terminate();
            Assert.Equal(0, await server.WaitForExitAsync(ExitLimit));

            var lines = File.ReadAllLines(path).Select(StepLogJson.Parse).ToList();
            var instances = lines.TakeWhile(l => l.Type == "instance").Select(l => l.Instance!).ToDictionary(i => i.Role);
            Assert.Equal(["decode", "prefill"], instances.Keys.Order());
            // Each instance line names the model the server ran, so that a replay on another is refused.
            using (var model = Tandem.Engine.Model.LanguageModel.Load(Tandem.Engine.Tests.TestPaths.Model("stories260K.gguf")))
                Assert.All(instances.Values, i => Assert.Equal(new StepLogModel("stories260K.gguf", model.Fingerprint.ToString()), i.Model));
            Assert.Equal("process", lines[^1].Type);
            Assert.DoesNotContain(lines, l => l.Type == "lost");
            var steps = lines.Where(l => l.Type == "step").GroupBy(l => l.InstanceName!).ToDictionary(g => g.Key, g => g.Select(l => l.Step).ToArray());
            Assert.Equal(instances.Values.Select(i => i.Instance).Order(), steps.Keys.Order());
            foreach (var (name, list) in steps)
            {
                Assert.Equal(Enumerable.Range(0, list.Length).Select(i => (long)i), list.Select(s => s.Index)); // in order, none missing
                Assert.All(list, s => Assert.True(s.Forward > 0 && s.Total >= s.Forward, $"{name} step {s.Index}: times out of order: {s}"));
            }

            var prefill = steps[instances["prefill"].Instance];
            var decode = steps[instances["decode"].Instance];
            Assert.Equal(promptTokens.Sum(), prefill.Sum(s => s.PrefillTokens));
            Assert.Equal(prompts.Length, prefill.Sum(s => s.LogitRows)); // each prompt's last chunk samples its first token
            Assert.All(prefill, s => Assert.Equal(0, s.DecodeSequences));
            // The decode instance computes every output token but the last, one per request per step, after pulling each prompt's KV.
            Assert.Equal(maxTokens.Sum(n => n - 1), decode.Sum(s => s.DecodeSequences));
            Assert.Equal(maxTokens.Sum(n => n - 1), decode.Sum(s => s.LogitRows));
            Assert.All(decode, s => Assert.Equal(0, s.PrefillTokens));
            Assert.Equal(prompts.Length, decode.Sum(s => s.Pulled));
            Assert.All(decode, s => Assert.Equal(0, s.ToPrefill)); // no local prefill: nothing to hand back
            // Each decode token attends to the prompt and the outputs before it.
            long context = promptTokens.Select((p, i) => Enumerable.Range(0, maxTokens[i] - 1).Sum(k => (long)p + k)).Sum();
            Assert.Equal(context, decode.Sum(s => s.DecodeContext));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task A_lower_priority_reaches_the_instance_threads_only()
    {
        await using var server = await ServeProcess.StartAsync("--prio", "-1");
        var nice = await InstanceThreadNiceAsync(server);
        Assert.All(nice.Instances, n => Assert.Equal(5, n.Nice));
        Assert.Equal(0, nice.Main);
        await AssertServesAsync(server);
    }

    [SkippableFact]
    public async Task A_raised_priority_without_CAP_SYS_NICE_is_a_warning_and_the_server_serves()
    {
        // As root (with CAP_SYS_NICE) the server is started by setpriv without that capability; otherwise as it is.
        bool capable = HasCapability(CapSysNice);
        string? setpriv = capable ? OnPath("setpriv") : null;
        Skip.If(capable && setpriv is null, "SKIP: this process has CAP_SYS_NICE and setpriv (util-linux) is not on PATH to start the server without it");
        await using var server = capable
            ? await ServeProcess.StartUnderAsync([setpriv!, "--bounding-set=-sys_nice", "--inh-caps=-sys_nice"], "--prio", "2")
            : await ServeProcess.StartAsync("--prio", "2");
        var nice = await InstanceThreadNiceAsync(server);
        Assert.All(nice.Instances, n => Assert.Equal(0, n.Nice));
        Assert.Contains("threads keep their priority: setpriority(nice -10) was refused", server.Stderr);
        await AssertServesAsync(server);
    }

    [SkippableFact]
    public async Task A_raised_priority_with_CAP_SYS_NICE_is_set_without_a_warning()
    {
        Skip.IfNot(HasCapability(CapSysNice), "SKIP: this process lacks CAP_SYS_NICE, which a raised priority needs (the refusal is tested beside)");
        await using var server = await ServeProcess.StartAsync("--prio", "2");
        var nice = await InstanceThreadNiceAsync(server);
        Assert.All(nice.Instances, n => Assert.Equal(-10, n.Nice));
        Assert.Equal(0, nice.Main);
        Assert.DoesNotContain("priority", server.Stderr);
    }

    private static async Task AssertServesAsync(ServeProcess server)
    {
        var reply = await server.Http.PostAsync("/v1/completions", ApiCalls.Completion(References.OnceUponATime, 4));
        Assert.Equal(HttpStatusCode.OK, reply.Status);
        Assert.Equal(4, reply.Body.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    private sealed record ThreadNice(string Name, int Nice);

    /// <summary>
    /// Nice values of the instances' threads (named tandem-prefill-0, tandem-decode-0, tandem-worker-N: the kernel keeps
    /// 15 characters) and of the main thread, once every instance loop is there.
    /// </summary>
    private static async Task<(List<ThreadNice> Instances, int Main)> InstanceThreadNiceAsync(ServeProcess server)
    {
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            var threads = new List<ThreadNice>();
            int main = int.MinValue;
            foreach (string task in Directory.GetDirectories($"/proc/{server.Pid}/task"))
            {
                try
                {
                    string name = File.ReadAllText(Path.Combine(task, "comm")).TrimEnd('\n');
                    string stat = File.ReadAllText(Path.Combine(task, "stat"));
                    // Fields after the name's closing parenthesis start at field 3 (state); nice is field 19.
                    int nice = int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[16], System.Globalization.CultureInfo.InvariantCulture);
                    if (Path.GetFileName(task) == server.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture)) main = nice;
                    else if (name.StartsWith("tandem-", StringComparison.Ordinal)) threads.Add(new ThreadNice(name, nice));
                }
                catch (IOException) { } // a thread that ended meanwhile
            }
            if (threads.Count(t => t.Name is "tandem-prefill-" or "tandem-decode-0") == 2 && main != int.MinValue) return (threads, main);
            if (DateTime.UtcNow > until) Assert.Fail($"the instance loops did not appear: {string.Join(", ", threads)}");
            await Task.Delay(50);
        }
    }

    private static bool HasCapability(int bit)
    {
        string line = File.ReadLines("/proc/self/status").First(l => l.StartsWith("CapEff:", StringComparison.Ordinal));
        return (Convert.ToUInt64(line["CapEff:".Length..].Trim(), 16) & (1UL << bit)) != 0;
    }

    private static string? OnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, program)).FirstOrDefault(File.Exists);
}
