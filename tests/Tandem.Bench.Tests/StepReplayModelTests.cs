using System.Text.Json;
using Tandem.Engine.KvCache;
using Tandem.Engine.Model;
using Tandem.Engine.Tests;
using Tandem.Serving.Diagnostics;

namespace Tandem.Bench.Tests;

/// <summary>
/// <c>Tandem.Bench steps --replay</c> times a log's batches on the model given: one other than the model the server ran
/// is refused, naming both files, since its ratios would mean nothing; the model the log names is replayed.
/// </summary>
public sealed class StepReplayModelTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tandem-replay-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A step log as <c>tandem serve --step-log</c> writes it, of one decode step on <paramref name="ranPath"/>.</summary>
    private string StepLogOf(string ranPath, bool recordModel = true)
    {
        using var ran = LanguageModel.Load(ranPath);
        var log = new StepLog("decode-0", "decode", [], 1, KvElementType.F32, 16, capacity: 4,
            recordModel ? new StepLogModel(Path.GetFileName(ranPath), ran.Fingerprint.ToString()) : null);
        string path = Path.Combine(_dir, recordModel ? "steps.jsonl" : "steps-unnamed.jsonl");
        using var file = File.Create(path);
        void Line(Action<Utf8JsonWriter> write)
        {
            using (var w = new Utf8JsonWriter(file)) write(w);
            file.WriteByte((byte)'\n');
        }
        Line(w => StepLogJson.WriteInstance(w, log));
        var step = new StepRecord { DecodeSequences = 1, DecodeContext = 8, LogitRows = 1, Forward = 0.001, ForwardAt = 1, Start = 1 };
        Line(w => StepLogJson.WriteStep(w, log.Instance, step));
        return path;
    }

    [Fact]
    public async Task Another_model_than_the_logs_is_refused_by_the_command_naming_both_files()
    {
        string ran = TestPaths.Model("stories260K.gguf"), other = TestPaths.Model("tinyllama-v0-q4_0.gguf");
        string log = StepLogOf(ran);

        var (exit, stdout, stderr) = await BenchProcess.RunAsync("steps", "--replay", log, "--model", other, "--no-pin");
        Assert.Equal(2, exit);
        Assert.Contains($"error: {log} was recorded by a server running stories260K.gguf", stderr);
        Assert.Contains($"--model {other} is another model", stderr);
        Assert.DoesNotContain("| decode |", stdout); // nothing was timed
    }

    [Fact]
    public void The_logs_own_model_is_replayed_and_an_unnamed_one_with_a_warning()
    {
        string ran = TestPaths.Model("stories260K.gguf");
        var o = new StringWriter();
        Assert.Equal(0, StepReplay.Run(new StepReplay.Settings(StepLogOf(ran), ran, Repetitions: 1, Pin: false), o, jsonPath: null));
        Assert.Contains("| decode | 1 |", o.ToString());
        Assert.DoesNotContain("warning", o.ToString());

        o = new StringWriter();
        Assert.Equal(0, StepReplay.Run(new StepReplay.Settings(StepLogOf(ran, recordModel: false), TestPaths.Model("tinyllama-v0-q4_0.gguf"), Repetitions: 1, Pin: false), o, jsonPath: null));
        Assert.Contains("does not say which model the server ran", o.ToString());
    }
}
