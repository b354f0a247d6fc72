using System.Text.Json;
using System.Text.Json.Serialization;

namespace Tandem.Bench;

/// <summary>
/// What <c>Tandem.Bench steps --replay FILE --json OUT</c> writes: for each instance of a server's step log, each batch
/// composition (bucket) with the server's and the bench's medians, and the per-step ratio server ÷ bench, with the machine
/// and the load average beside them.
/// </summary>
public sealed record StepReplayReport(
    string Utc,
    string CpuModel,
    string CpuFlags,
    string DotnetIsa,
    string LoadAverageStart,
    string LoadAverageEnd,
    string StepLog,
    string Model,
    int Repetitions,
    int Passes,
    IReadOnlyList<StepReplayReport.Instance> Instances,
    StepReplayReport.Ratios Overall)
{
    /// <param name="Steps">Steps that ran the model in the log; <paramref name="Replayed"/> of them fell in a replayed bucket.</param>
    /// <param name="Lost">Steps the server's ring overwrote before they reached the file.</param>
    public sealed record Instance(string Name, string Role, IReadOnlyList<int> Cores, int Threads, string KvType, long Steps, long Replayed,
        long Lost, ServerFacts Server, Ratios Ratios, IReadOnlyList<Bucket> Buckets);

    /// <summary>
    /// One batch composition: decode sequences and their context each, prompt chunks, tokens and context; the batch
    /// replayed is the recorded step closest to the bucket's mean (<paramref name="Replay"/>). <paramref name="BenchPassMediansMs"/>:
    /// the bench's median in each pass over all buckets, and <paramref name="BenchPassSpread"/> the largest over the smallest
    /// of them: how far the bench's own figure for one batch moves within one replay.
    /// </summary>
    public sealed record Bucket(string Kind, int DecodeSeqs, int DecodeCtxPerSeq, int PrefillChunks, int PrefillTokens, int PrefillCtx,
        int Steps, double ServerForwardMedianMs, double ServerCpuMedianMs, double ServerRunQueueMedianMs, double BenchForwardMedianMs,
        double BenchCpuMedianMs, double Ratio, ReplayedBatch Replay, IReadOnlyList<double> BenchForwardMs, IReadOnlyList<double> BenchPassMediansMs,
        double BenchPassSpread);

    /// <summary>The batch the bench ran: each decode sequence's context, and each prompt chunk as (context, tokens, samples).</summary>
    public sealed record ReplayedBatch(IReadOnlyList<int> DecodeContexts, IReadOnlyList<int[]> Chunks);

    /// <summary>
    /// Server step ÷ bench step for the same batch: the median and 90th percentile over steps, the sums' ratio, the median
    /// per kind of step, and the median over steps whose forward pass ran alone (less than 10% of it beside another
    /// instance's) or beside another instance's (more than 90%): on 2 cores the instances share memory bandwidth and L3.
    /// </summary>
    public sealed record Ratios(long Steps, double Median, double P90, double TimeWeighted, IReadOnlyDictionary<string, double> MedianByKind,
        long StepsAlone, double MedianAlone, long StepsBeside, double MedianBeside);

    /// <summary>
    /// What the server's loop did around its steps (medians over steps, in ms; shares of the summed forward time).
    /// </summary>
    public sealed record ServerFacts(double GapMedianMs, double PrepareMedianMs, double AfterForwardMedianMs, double ForwardMedianMs,
        double RunQueueShare, double OffCpuShare, double StepsWithGcShare, double GcPauseMs, double AllocatedBytesMedian,
        long Preemptions, long Pulls, long ToPrefill);

    public void Write(string path) => File.WriteAllText(path, JsonSerializer.Serialize(this, Json));

    // The bench's settings, with a figure not measured (NaN: no step of that kind, no schedstat) written as null.
    private static readonly JsonSerializerOptions Json = new(EngineRunReport.Json) { Converters = { new FiniteOrNull() } };

    private sealed class FiniteOrNull : JsonConverter<double>
    {
        public override bool HandleNull => true;

        public override double Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            reader.TokenType == JsonTokenType.Null ? double.NaN : reader.GetDouble();

        public override void Write(Utf8JsonWriter writer, double value, JsonSerializerOptions options)
        {
            if (double.IsFinite(value)) writer.WriteNumberValue(value);
            else writer.WriteNullValue();
        }
    }
}
