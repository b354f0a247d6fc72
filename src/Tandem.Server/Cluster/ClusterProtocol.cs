using Tandem.Engine.KvCache;
using Tandem.Engine.Model;
using Tandem.Engine.Sampling;
using Tandem.Engine.Structured;
using Tandem.Serving.Scheduling;
using Tandem.Serving.Workers;
using Proto = Tandem.Server.Cluster.Protocol;

namespace Tandem.Server.Cluster;

/// <summary>
/// The constants and conversions both ends of the cluster protocol (Protos/*.proto) share: its version, the
/// handshake check, and the mapping of sampling parameters and random state to their wire form.
/// </summary>
public static class ClusterProtocol
{
    /// <summary>The protocol version Protos/*.proto describe; peers of another version are refused at the handshake.</summary>
    public const uint Version = 2;

    /// <summary>Why a peer may not join (another protocol version or model), or null when it may.</summary>
    public static string? Refusal(uint peerVersion, ModelFingerprint peerModel, ModelFingerprint ownModel, string peer)
    {
        if (peerVersion != Version)
            return $"{peer} speaks Tandem cluster protocol version {peerVersion}, this process speaks version {Version}: run the same Tandem release on every process";
        if (peerModel != ownModel)
            return $"{peer} runs another model (fingerprint {peerModel}, this process has {ownModel}): every process of a cluster must load the same GGUF file";
        return null;
    }

    public static ModelFingerprint Fingerprint(ulong high, ulong low) => new(high, low);

    /// <summary>The trailer a draining worker's refusal carries (worker.proto, WorkerStatus.draining).</summary>
    public const string DrainingTrailer = "tandem-draining";

    /// <summary>A draining worker's answer to new work: UNAVAILABLE, marked so the frontend tells it from a dead worker.</summary>
    public static Grpc.Core.RpcException Draining(WorkerRole role) => new(
        new Grpc.Core.Status(Grpc.Core.StatusCode.Unavailable, $"this {RoleName(role)} worker is shutting down and takes no new work; send it to another"),
        new Grpc.Core.Metadata { { DrainingTrailer, "1" } });

    public static bool IsDraining(Grpc.Core.RpcException e) =>
        e.StatusCode == Grpc.Core.StatusCode.Unavailable && e.Trailers.GetValue(DrainingTrailer) == "1";

    /// <summary>
    /// Whether a call failed before the worker's response began: no connection could be made (the channel's own connect
    /// reports the <see cref="System.Net.Sockets.SocketException"/>), or the send failed, refused or closed before any
    /// response headers (its <see cref="System.Net.Http.HttpRequestException"/>, not an error reading the stream). A worker that drained and exited between two heartbeats answers so,
    /// as does one that died before its first word. Nothing from such a call reached the frontend, so the request can go to
    /// another worker as after a draining refusal: held KV is still where it was, or, if the worker had imported and
    /// released it, the next worker's pull finds it gone and asks for the recompute itself.
    /// </summary>
    public static bool NeverAnswered(Grpc.Core.RpcException e) =>
        e.StatusCode == Grpc.Core.StatusCode.Unavailable
        && e.Status.DebugException is System.Net.Sockets.SocketException or System.Net.Http.HttpRequestException
        {
            HttpRequestError: System.Net.Http.HttpRequestError.ConnectionError or System.Net.Http.HttpRequestError.ResponseEnded,
        };

    /// <summary>The trailer of a refusal by a worker whose loop died (its status's failure says why).</summary>
    public const string FailedTrailer = "tandem-failed";

    /// <summary>A worker with a dead loop refuses new work: UNAVAILABLE, marked so the frontend stops routing there at once.</summary>
    public static Grpc.Core.RpcException Failed(WorkerRole role, string failure) => new(
        new Grpc.Core.Status(Grpc.Core.StatusCode.Unavailable, $"this {RoleName(role)} worker cannot take work: {failure}; send it to another (it needs a restart)"),
        new Grpc.Core.Metadata { { FailedTrailer, "1" } });

    public static bool IsFailed(Grpc.Core.RpcException e) =>
        e.StatusCode == Grpc.Core.StatusCode.Unavailable && e.Trailers.GetValue(FailedTrailer) == "1";

    public static string RoleName(WorkerRole role) => role == WorkerRole.Prefill ? "prefill" : "decode";

    public static Proto.Sampling ToWire(SamplingParams p, ulong seed, Xoshiro256StarStar? state)
    {
        var s = new Proto.Sampling
        {
            Temperature = p.Temperature,
            TopK = p.TopK,
            TopP = p.TopP,
            MinP = p.MinP,
            RepetitionPenalty = p.RepetitionPenalty,
            PenaltyLastN = p.PenaltyLastN,
            PresencePenalty = p.PresencePenalty,
            FrequencyPenalty = p.FrequencyPenalty,
            Seed = seed,
            Logprobs = p.LogProbs,
        };
        foreach (var (token, bias) in p.LogitBias ?? new Dictionary<int, float>())
            s.LogitBias[token] = bias;
        AddState(s.RandomState, state);
        return s;
    }

    /// <summary>Throws <see cref="ArgumentException"/> (from SamplingParams' own checks) for values out of range.</summary>
    public static SamplingParams FromWire(Proto.Sampling s) => new()
    {
        Temperature = s.Temperature,
        TopK = s.TopK,
        TopP = s.TopP,
        MinP = s.MinP,
        RepetitionPenalty = s.RepetitionPenalty,
        PenaltyLastN = s.PenaltyLastN,
        PresencePenalty = s.PresencePenalty,
        FrequencyPenalty = s.FrequencyPenalty,
        Seed = s.Seed,
        LogProbs = s.Logprobs,
        LogitBias = s.LogitBias.Count > 0 ? new Dictionary<int, float>(s.LogitBias) : null,
    };

    /// <summary>Adds structured output to the wire sampling: the grammar (any object, or a schema's text) and where the output starts.</summary>
    public static void AddStructuredOutput(Proto.Sampling s, JsonGrammar? grammar, int outputStart)
    {
        if (grammar == null) return;
        if (grammar.Schema is { } schema) s.JsonSchema = schema;
        else s.JsonObject = true;
        s.OutputStart = outputStart;
    }

    /// <summary>The grammar of a wire sampling, or null for free text; <see cref="JsonSchemaException"/> for a schema this process cannot compile.</summary>
    public static JsonGrammar? StructuredOutput(Proto.Sampling s) =>
        s.JsonSchema.Length > 0 ? JsonGrammar.FromSchema(s.JsonSchema) : s.JsonObject ? JsonGrammar.JsonObject : null;

    /// <summary>Adds the tool-call constraint to the wire sampling: the format, one call's schema text, and where the output starts.</summary>
    public static void AddToolCalls(Proto.Sampling s, ToolCallSyntax? tools, int outputStart)
    {
        if (tools == null) return;
        s.ToolCallFormat = tools.Format.ToString();
        s.ToolCallSchema = tools.Call.Schema ?? throw new ArgumentException("a tool call's grammar has a schema", nameof(tools));
        s.ToolCallParallel = tools.Parallel;
        s.OutputStart = outputStart;
    }

    /// <summary>
    /// The tool-call constraint of a wire sampling, or null for none; <see cref="ArgumentException"/> for a format this
    /// process does not know, <see cref="JsonSchemaException"/> for a schema it cannot compile.
    /// </summary>
    public static ToolCallSyntax? ToolCalls(Proto.Sampling s)
    {
        if (s.ToolCallFormat.Length == 0) return null;
        if (!Enum.TryParse<Engine.Chat.ToolCallFormat>(s.ToolCallFormat, ignoreCase: false, out var format) || !Enum.IsDefined(format))
            throw new ArgumentException($"unknown tool call format '{s.ToolCallFormat}'");
        return new ToolCallSyntax(format, JsonGrammar.FromSchema(s.ToolCallSchema), s.ToolCallParallel);
    }

    public static void AddState(Google.Protobuf.Collections.RepeatedField<ulong> field, Xoshiro256StarStar? state)
    {
        if (state is not { } x) return;
        var (a, b, c, d) = x.State;
        field.Add(a);
        field.Add(b);
        field.Add(c);
        field.Add(d);
    }

    public static Proto.KvDiskStatus ToWire(KvDiskStats s) => new()
    {
        Blocks = s.Blocks, Bytes = s.Bytes, CapacityBytes = s.CapacityBytes, Hits = s.Hits, Misses = s.Misses, Corrupt = s.Corrupt,
        ReadBytes = s.BytesRead, WrittenBytes = s.BytesWritten, WritesDropped = s.WritesDropped, Evictions = s.Evictions,
        WriteFailures = s.WriteFailures,
    };

    public static KvDiskStats FromWire(Proto.KvDiskStatus w) =>
        new(w.Blocks, w.Bytes, w.CapacityBytes, w.Hits, w.Misses, w.Corrupt, w.ReadBytes, w.WrittenBytes, w.WritesDropped, w.Evictions, w.WriteFailures);

    public static Proto.CachedBlockReport ToWire(CachedBlockReport report)
    {
        var wire = new Proto.CachedBlockReport { Epoch = report.Epoch, Sequence = report.Sequence, Full = report.Full };
        AddHashes(wire.Stored, report.Stored);
        AddHashes(wire.Removed, report.Removed);
        return wire;
    }

    /// <summary>A worker's report of its cached blocks; ArgumentException when a hash list is not whole (high, low) pairs.</summary>
    public static CachedBlockReport FromWire(Proto.CachedBlockReport wire) =>
        new(wire.Epoch, wire.Sequence, wire.Full, Hashes(wire.Stored, "stored"), Hashes(wire.Removed, "removed"));

    private static void AddHashes(Google.Protobuf.Collections.RepeatedField<ulong> field, UInt128[] hashes)
    {
        foreach (var h in hashes)
        {
            field.Add((ulong)(h >> 64));
            field.Add((ulong)h);
        }
    }

    private static UInt128[] Hashes(IReadOnlyList<ulong> words, string name)
    {
        if (words.Count % 2 != 0) throw new ArgumentException($"cached_blocks.{name} holds {words.Count} words: a block hash is two (high, low)");
        var hashes = new UInt128[words.Count / 2];
        for (int i = 0; i < hashes.Length; i++) hashes[i] = new UInt128(words[2 * i], words[2 * i + 1]);
        return hashes;
    }

    /// <summary>The random state of a wire field: null when empty; ArgumentException when malformed.</summary>
    public static Xoshiro256StarStar? State(IReadOnlyList<ulong> words) => words.Count switch
    {
        0 => null,
        4 => Xoshiro256StarStar.FromState(words[0], words[1], words[2], words[3]),
        _ => throw new ArgumentException($"a random state has 4 words, got {words.Count}"),
    };
}
