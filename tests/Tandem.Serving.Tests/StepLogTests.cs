using System.Text;
using System.Text.Json;
using Tandem.Engine.KvCache;
using Tandem.Engine.Model;
using Tandem.Engine.Sampling;
using Tandem.Engine.Tokenization;
using Tandem.Serving.Diagnostics;
using Tandem.Serving.Instances;
using Tandem.Serving.Scheduling;
using static Tandem.Serving.Tests.ServingTestKit;

namespace Tandem.Serving.Tests;

/// <summary>
/// The step log records each engine step exactly: real instances run known prompts with forced output lengths, so every
/// step's batch (decode sequences and their context, prompt chunks, sampled rows, pulls) is known in advance. Also the
/// ring, the JSON lines and the batch a record describes for the bench's replay.
/// </summary>
public class StepLogTests
{
    private static GenerationRequest Forced(string id, int[] prompt, int maxTokens) =>
        new() { Id = id, PromptTokens = prompt, MaxTokens = maxTokens, IgnoreEos = true, Sampling = SamplingParams.Greedy };

    private static ServingOptions Logged(LanguageModel model, ServingMode mode) =>
        Options(model, mode) with { StepLogCapacity = 1024, PrefixCaching = false, LocalPrefillThreshold = 0 };

    [Fact]
    public async Task ColocatedRecordsOnePrefillOfAllPromptsThenShrinkingDecodeBatches()
    {
        using var model = Load("stories260K.gguf");
        var tokenizer = Tokenizer.FromGguf(model.File);
        var prompts = new[] { Prompts[0], Prompts[3], Prompts[5] }.Select(p => tokenizer.Encode(p, addBos: true)).ToArray();
        int[] maxTokens = [4, 7, 2];
        await using var engine = ServingRuntime.Start(Logged(model, ServingMode.Colocated));
        // Hold the loop while the three arrive, so that its first step takes all of them.
        using var gate = new ManualResetEventSlim(false);
        engine.InjectLoopFault("colocated-0", () => gate.Wait());
        var handles = prompts.Select((p, i) => engine.Submit(Forced($"r{i}", p, maxTokens[i]))).ToArray();
        gate.Set();
        engine.InjectLoopFault("colocated-0", null);
        await Task.WhenAll(handles.Select(Collect));

        var steps = engine.StepLogs.Single().ReadSince(0, out long lost);
        Assert.Equal(0, lost);
        // Step 0: every prompt whole, each sampling its first token. Step k: one token for each request with more than
        // k tokens to produce, after its prompt and k - 1 decode tokens.
        Assert.Equal(maxTokens.Max(), steps.Length);
        var first = steps[0];
        Assert.Equal((0, 3, prompts.Sum(p => p.Length), 0L, 3), (first.DecodeSequences, first.PrefillChunks, first.PrefillTokens, first.PrefillContext, first.LogitRows));
        for (int i = 0; i < 3; i++) Assert.Equal(new StepChunk(0, prompts[i].Length, true), first.Chunk(i));
        Assert.True(double.IsNaN(first.Gap));
        for (int k = 1; k < steps.Length; k++)
        {
            var inBatch = Enumerable.Range(0, 3).Where(i => maxTokens[i] > k).ToArray();
            var s = steps[k];
            Assert.Equal(k, s.Index);
            Assert.Equal("decode", s.Kind);
            Assert.Equal(inBatch.Length, s.DecodeSequences);
            Assert.Equal(inBatch.Sum(i => (long)prompts[i].Length + k - 1), s.DecodeContext);
            Assert.Equal((0, 0, inBatch.Length), (s.PrefillChunks, s.PrefillTokens, s.LogitRows));
            Assert.True(s.Gap >= 0);
        }
        foreach (var s in steps)
        {
            Assert.True(s.Forward > 0 && s.Execute >= s.Forward && s.Total >= s.Execute + s.Prepare - 1e-9, $"step {s.Index}: times out of order: {s}");
            Assert.InRange(s.ForwardAt, s.Start + s.Prepare - 1e-9, s.Start + s.Prepare + s.Execute - s.Forward + 1e-9);
            Assert.Equal(0, s.Preempted);
            if (OperatingSystem.IsLinux()) Assert.True(s.ForwardCpu >= 0 && s.ForwardRunQueue >= 0, $"step {s.Index}: no CPU or run-queue time on Linux: {s}");
        }
    }

    [Fact]
    public async Task DisaggregatedRecordsThePrefillOnOneInstanceAndThePullThenEachDecodeOnTheOther()
    {
        using var model = Load("stories260K.gguf");
        var tokenizer = Tokenizer.FromGguf(model.File);
        var prompt = tokenizer.Encode(Prompts[1], addBos: true);
        const int maxTokens = 6;
        await using var engine = ServingRuntime.Start(Logged(model, ServingMode.Disaggregated));
        await Collect(engine.Submit(Forced("a", prompt, maxTokens)));

        var logs = engine.StepLogs.ToDictionary(l => l.Role);
        Assert.Equal(new[] { "decode", "prefill" }, logs.Keys.Order());
        var prefill = logs["prefill"].ReadSince(0, out _);
        var only = Assert.Single(prefill);
        Assert.Equal(("prefill", 1, prompt.Length, 1), (only.Kind, only.PrefillChunks, only.PrefillTokens, only.LogitRows));
        Assert.Equal(new StepChunk(0, prompt.Length, true), only.Chunk(0));

        // The decode instance pulls the KV in an iteration of its own (no model run), counted in its first step.
        var decode = logs["decode"].ReadSince(0, out _);
        Assert.Equal(maxTokens - 1, decode.Length);
        for (int k = 0; k < decode.Length; k++)
        {
            Assert.Equal((1, prompt.Length + (long)k, 0, 1), (decode[k].DecodeSequences, decode[k].DecodeContext, decode[k].PrefillChunks, decode[k].LogitRows));
            Assert.Equal(k == 0 ? 1 : 0, decode[k].Pulled);
        }
        Assert.Equal(1, logs["decode"].Threads);
        Assert.Equal(KvElementType.F32, logs["decode"].KvType);
    }

    [Fact]
    public async Task ChunkedRecordsEachPromptChunkWithTheContextBeforeIt()
    {
        using var model = Load("stories260K.gguf");
        var tokenizer = Tokenizer.FromGguf(model.File);
        var prompt = tokenizer.Encode(Prompts[5], addBos: true);
        const int budget = 8, maxTokens = 3;
        Assert.True(prompt.Length > 2 * budget, "the prompt should take several chunks");
        await using var engine = ServingRuntime.Start(Logged(model, ServingMode.Chunked) with { ChunkBudget = budget });
        await Collect(engine.Submit(Forced("a", prompt, maxTokens)));

        var steps = engine.StepLogs.Single().ReadSince(0, out _);
        int chunks = (prompt.Length + budget - 1) / budget;
        Assert.Equal(chunks + maxTokens - 1, steps.Length);
        for (int c = 0; c < chunks; c++)
        {
            int start = c * budget, n = Math.Min(budget, prompt.Length - start);
            Assert.Equal(("prefill", 1, n, (long)start), (steps[c].Kind, steps[c].PrefillChunks, steps[c].PrefillTokens, steps[c].PrefillContext));
            Assert.Equal(new StepChunk(start, n, c == chunks - 1), steps[c].Chunk(0));
        }
        for (int k = 0; k < maxTokens - 1; k++)
            Assert.Equal((1, prompt.Length + (long)k), (steps[chunks + k].DecodeSequences, steps[chunks + k].DecodeContext));
    }

    /// <summary>
    /// A decode step, from scheduling to its tokens in their streams, allocates nothing on the loop once the tokens' texts
    /// are known (stories260K's 512-token vocabulary repeats them soon): no boxed enumerator, no strings. Lists that grow
    /// (a request's tokens and token times) still allocate now and then, so the median is what is asserted.
    /// </summary>
    [Fact]
    public async Task DecodeStepsAllocateNothingOnTheLoopOnceTheirTextsAreKnown()
    {
        using var model = Load("stories260K.gguf");
        var tokenizer = Tokenizer.FromGguf(model.File);
        await using var engine = ServingRuntime.Start(Logged(model, ServingMode.Colocated));
        var handles = new[] { Prompts[0], Prompts[2] }.Select((p, i) => engine.Submit(Forced($"r{i}", tokenizer.Encode(p, addBos: true), 300))).ToArray();
        await Task.WhenAll(handles.Select(Collect));

        var decode = engine.StepLogs.Single().ReadSince(0, out _).Where(s => s.Kind == "decode").Skip(100).Select(s => s.AllocatedBytes).Order().ToArray();
        Assert.True(decode.Length > 100);
        Assert.Equal(0, decode[decode.Length / 2]);
    }

    [Fact]
    public void RecordingAStepAllocatesNothingAndClassifiesItsChunks()
    {
        var log = new StepLog("x", "colocated", [0], 1, KvElementType.F32, 16, capacity: 8);
        using var recorder = new StepRecorder(log, () => 1.0);
        recorder.AttachCurrentThread(0);
        // A decode token (its prompt and first output computed but the last), and a whole new prompt.
        var decode = new Request("d", [1, 2, 3], 10, 0, 0) { NumComputedTokens = 3 };
        decode.AppendOutputToken(4);
        var prompt = new Request("p", [1, 2, 3, 4, 5], 10, 1, 0);
        var output = new SchedulerOutput();
        output.Clear(0);
        output.Add(decode, 1);
        output.Add(prompt, 5);
        void Step()
        {
            recorder.Begin();
            recorder.Scheduled(output);
            recorder.ForwardStarting();
            recorder.ForwardEnded();
            recorder.Executed();
            recorder.End();
        }
        Step(); // first calls: JIT, statics
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 20; i++) Step();
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);

        var last = log.ReadSince(log.Count - 1, out _).Single();
        Assert.Equal((1, 3L, 1, 5, 0L, 2), (last.DecodeSequences, last.DecodeContext, last.PrefillChunks, last.PrefillTokens, last.PrefillContext, last.LogitRows));
        Assert.Equal(new StepChunk(0, 5, true), last.Chunk(0));
        Assert.Equal("mixed", last.Kind);
        if (OperatingSystem.IsLinux()) Assert.False(double.IsNaN(last.ForwardRunQueue), "schedstat should be readable on Linux");
    }

    /// <summary>
    /// A decode instance hands local prompts back to a prefill instance (<see cref="SchedulerOutput.ToPrefill"/>) in
    /// iterations that may run no model: the record of the next step that does counts them, as it counts pulls.
    /// </summary>
    [Fact]
    public void PromptsHandedBackToAPrefillInstanceAreCountedInTheNextStepThatRuns()
    {
        var log = new StepLog("decode-0", "decode", [0], 1, KvElementType.F32, 16, capacity: 8);
        using var recorder = new StepRecorder(log, () => 1.0);
        var decode = new Request("d", [1, 2, 3], 10, 0, 0) { NumComputedTokens = 3 };
        decode.AppendOutputToken(4);
        var output = new SchedulerOutput();

        // An iteration that only gave two prompts back and ran nothing, then a step that gives one more back.
        recorder.Begin();
        output.Clear(0);
        output.ToPrefill.Add(new Request("a", [1, 2], 4, 1, 0));
        output.ToPrefill.Add(new Request("b", [1, 2], 4, 2, 0));
        recorder.Carry(output);
        recorder.Begin();
        output.Clear(1);
        output.Add(decode, 1);
        output.ToPrefill.Add(new Request("c", [1, 2], 4, 3, 0));
        RunStep(recorder, output);
        // Then a step that gives none back.
        recorder.Begin();
        output.Clear(2);
        output.Add(decode, 1);
        RunStep(recorder, output);

        var steps = log.ReadSince(0, out _);
        Assert.Equal(new[] { 3, 0 }, steps.Select(s => s.ToPrefill));
        Assert.Equal(3, StepLogJson.Parse(Line(w => StepLogJson.WriteStep(w, log.Instance, steps[0]))).Step.ToPrefill);

        static void RunStep(StepRecorder recorder, SchedulerOutput output)
        {
            recorder.Scheduled(output);
            recorder.ForwardStarting();
            recorder.ForwardEnded();
            recorder.Executed();
            recorder.End();
        }
    }

    /// <summary>
    /// The same on real instances: a decode instance with one seat, taken by a request it pulled, while a second pulled
    /// request waits for that seat, hands a short prompt sent to it for local prefill back to the prefill instance (the
    /// seat is contested), and its step log counts the give-back; the prefill instance's log has that prompt.
    /// </summary>
    [Fact]
    public async Task ADecodeInstanceRecordsThePromptItHandsBackToThePrefillInstance()
    {
        using var model = Load("stories260K.gguf");
        var tokenizer = Tokenizer.FromGguf(model.File);
        var longPrompts = new[] { Prompts[5], Prompts[7] }.Select(p => tokenizer.Encode(p, addBos: true)).ToArray();
        var shortPrompt = tokenizer.Encode(Prompts[6], addBos: true);
        const int threshold = 16;
        Assert.All(longPrompts, p => Assert.True(p.Length > threshold));
        Assert.True(shortPrompt.Length <= threshold);
        await using var engine = ServingRuntime.Start(Logged(model, ServingMode.Disaggregated) with { LocalPrefillThreshold = threshold, MaxNumSeqs = 1 });

        var first = engine.Submit(Forced("long-1", longPrompts[0], 400)); // long enough to hold the seat through what follows
        var firstTokens = first.Tokens.ReadAllAsync().GetAsyncEnumerator();
        Assert.True(await firstTokens.MoveNextAsync() && await firstTokens.MoveNextAsync()); // decoding on the decode instance now
        var second = engine.Submit(Forced("long-2", longPrompts[1], 4));
        var secondTokens = second.Tokens.ReadAllAsync().GetAsyncEnumerator();
        Assert.True(await secondTokens.MoveNextAsync()); // its first token, from the prefill instance: now it waits to be pulled
        var handedBack = await Collect(engine.Submit(Forced("short", shortPrompt, 3)));
        while (await firstTokens.MoveNextAsync()) { }
        while (await secondTokens.MoveNextAsync()) { }
        Assert.Equal(3, handedBack.Tokens.Length);

        var logs = engine.StepLogs.ToDictionary(l => l.Role);
        var decode = logs["decode"].ReadSince(0, out _);
        Assert.Equal(1, decode.Sum(s => s.ToPrefill));
        Assert.All(decode, s => Assert.Equal(0, s.PrefillTokens)); // the short prompt was not prefilled there
        var prefill = logs["prefill"].ReadSince(0, out _);
        Assert.Contains(prefill, s => Enumerable.Range(0, s.StoredChunks).Any(i => s.Chunk(i) == new StepChunk(0, shortPrompt.Length, true)));
    }

    /// <summary>The instance line names the model, so that a replay can refuse another; a log written before it did still reads.</summary>
    [Fact]
    public async Task TheInstanceLineRecordsTheModelTheInstanceRuns()
    {
        using var model = Load("stories260K.gguf");
        await using var engine = ServingRuntime.Start(Logged(model, ServingMode.Colocated));
        var log = engine.StepLogs.Single();
        Assert.Equal(new StepLogModel("stories260K.gguf", model.Fingerprint.ToString()), log.Model);

        var line = StepLogJson.Parse(Line(w => StepLogJson.WriteInstance(w, log)));
        Assert.Equal(log.Model, line.Instance!.Model);
        var old = StepLogJson.Parse("""{"type":"instance","instance":"x","role":"decode","cores":[0],"threads":1,"kv_type":"f32","block_size":16,"capacity":4}""");
        Assert.Null(old.Instance!.Model);
        var oldStep = StepLogJson.Parse(Line(w => StepLogJson.WriteStep(w, "x", new StepRecord { ToPrefill = 2 })).Replace("\"to_prefill\":2,", ""));
        Assert.Equal(0, oldStep.Step.ToPrefill);
    }

    private static string Line(Action<Utf8JsonWriter> write)
    {
        var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer)) write(w);
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    [Fact]
    public void TheRingKeepsTheNewestAndCountsWhatItOverwrote()
    {
        var log = new StepLog("x", "decode", [0], 1, KvElementType.F16, 16, capacity: 4);
        for (int i = 0; i < 10; i++)
        {
            var r = new StepRecord { DecodeSequences = i };
            log.Add(ref r);
        }
        Assert.Equal(10, log.Count);
        var read = log.ReadSince(3, out long lost);
        // Records 3..5 were overwritten; of 6..9 the oldest may be under the writer's pen when it runs, so 7..9 are whole.
        Assert.Equal(4, lost);
        Assert.Equal(new long[] { 7, 8, 9 }, read.Select(r => r.Index));
        Assert.Equal(new[] { 7, 8, 9 }, read.Select(r => r.DecodeSequences));
        Assert.Empty(log.ReadSince(10, out lost));
        Assert.Equal(0, lost);
    }

    [Fact]
    public void JsonLinesRoundTripEveryFieldAndChunksPastTheKeptOnes()
    {
        var r = new StepRecord
        {
            Index = 12, Start = 1.5, Gap = double.NaN, Prepare = 0.001, ForwardAt = 1.5012, Forward = 0.25, ForwardCpu = 0.2, ForwardRunQueue = 0.03, Execute = 0.26,
            Total = 0.3, DecodeSequences = 3, DecodeContext = 900, CachedTokens = 16, LogitRows = 5, Preempted = 1, Pulled = 2, ToPrefill = 3,
            AllocatedBytes = 1234, Gen0Collections = 1, GcPause = 0.002,
        };
        for (int i = 0; i < StepRecord.MaxChunks + 2; i++) r.AddChunk(new StepChunk(i * 10, 7, i % 2 == 0));
        var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer)) StepLogJson.WriteStep(w, "decode-0", r);
        var line = StepLogJson.Parse(Encoding.UTF8.GetString(buffer.ToArray()));
        Assert.Equal(("step", "decode-0"), (line.Type, line.InstanceName));
        Assert.Equal(r, line.Step);
        Assert.Equal(r.GetHashCode(), line.Step.GetHashCode());
        // Equality looks into the kept chunks too (the inline array compares its elements).
        var other = new StepRecord { DecodeSequences = r.DecodeSequences };
        var differs = other;
        other.AddChunk(new StepChunk(0, 7, true));
        differs.AddChunk(new StepChunk(1, 7, true));
        Assert.NotEqual(other, differs);
        Assert.Throws<FormatException>(() => StepLogJson.Parse("{\"type\":\"step\"}"));
    }

    [Fact]
    public void TheBatchOfARecordHasTheRecordsComposition()
    {
        var r = new StepRecord { DecodeSequences = 3, DecodeContext = 301 };
        for (int i = 0; i < StepRecord.MaxChunks + 3; i++) r.AddChunk(new StepChunk(i * 5, 4 + i, i == 2));
        r.LogitRows = 3 + 1 + 3; // the decodes, chunk 2, and the three chunks past those kept (counted as sampling)
        var batch = StepBatch.Of(r);
        Assert.Equal(new[] { 101, 100, 100 }, batch.DecodeContexts);
        var again = batch.Describe();
        Assert.Equal((r.DecodeSequences, r.DecodeContext, r.PrefillChunks, r.PrefillTokens, r.PrefillContext, r.LogitRows),
            (again.DecodeSequences, again.DecodeContext, again.PrefillChunks, again.PrefillTokens, again.PrefillContext, again.LogitRows));

        // And the engine's batch built from it: as many tokens and logit rows, each entry at its context.
        using var model = Load("stories260K.gguf");
        var pool = new KvBlockPool(model.Config, batch.Blocks(16) + 64, 16);
        var sequences = Enumerable.Range(0, batch.Entries).Select(i =>
        {
            var s = pool.CreateSequence();
            Assert.True(s.TryReserve(batch.Context(i) + batch.Tokens(i)));
            return s;
        }).ToArray();
        // Contexts are only lengths here: set them by computing that many tokens.
        using var transformer = new Transformer(model, 1, maxBatch: 512, maxContext: 512);
        var logits = new float[model.Config.VocabSize * Math.Max(1, batch.LogitRows)];
        for (int i = 0; i < batch.Entries; i++)
            if (batch.Context(i) > 0) transformer.Forward(Enumerable.Repeat(5, batch.Context(i)).ToArray(), sequences[i], logits.AsSpan(0, model.Config.VocabSize));
        var fb = new ForwardBatch();
        batch.Fill(fb, sequences, Enumerable.Range(0, batch.Entries).Select(i => Enumerable.Repeat(7, batch.Tokens(i)).ToArray()).ToArray());
        Assert.Equal((r.DecodeSequences + r.PrefillChunks, r.DecodeSequences + r.PrefillTokens, r.LogitRows), (fb.EntryCount, fb.TokenCount, fb.LogitRows));
        transformer.Forward(fb, logits);
        for (int i = 0; i < batch.Entries; i++) Assert.Equal(batch.Context(i) + batch.Tokens(i), sequences[i].Length);
    }
}
