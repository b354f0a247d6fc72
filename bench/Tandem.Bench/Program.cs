using System.Globalization;
using LLama.Native;
using Tandem.Bench;

// Temporary command line: `llama <file.gguf> [options]` times llama.cpp alone; the Tandem side and the
// comparison table come later.
const string Usage = """
    usage: Tandem.Bench llama <file.gguf> [--threads N] [--pp N] [--tg N] [--batch B,B,...] [--ctx N] [--steps N]
                                          [--kv f16|f32] [--fa] [--no-repack] [--unified-kv] [--reps N]
      --pp/--tg       prompt tokens in one batch / single-token decode steps after it   (default 512 / 128)
      --batch         batched decode: sequence counts to time (default 1,4,16; 0 skips)
      --ctx/--steps   batched decode: tokens already in each sequence / timed steps      (default 128 / 32)
    """;

if (args.Length < 2 || args[0] != "llama")
{
    Console.Error.WriteLine(Usage);
    return 2;
}

string path = args[1];
int threads = Environment.ProcessorCount, pp = 512, tg = 128, ctx = 128, steps = 32, reps = 3;
int[] batches = [1, 4, 16];
var kv = GGMLType.GGML_TYPE_F16;
bool fa = false, repack = true, unified = false;
for (int i = 2; i < args.Length; i++)
{
    string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
    int IntValue() => int.Parse(Value(), CultureInfo.InvariantCulture);
    switch (args[i])
    {
        case "--threads": threads = IntValue(); break;
        case "--pp": pp = IntValue(); break;
        case "--tg": tg = IntValue(); break;
        case "--ctx": ctx = IntValue(); break;
        case "--steps": steps = IntValue(); break;
        case "--reps": reps = IntValue(); break;
        case "--batch": batches = Value().Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).Where(b => b > 0).ToArray(); break;
        case "--kv":
            kv = Value() switch
            {
                "f16" => GGMLType.GGML_TYPE_F16,
                "f32" => GGMLType.GGML_TYPE_F32,
                var other => throw new ArgumentException($"unknown KV type {other}"),
            };
            break;
        case "--fa": fa = true; break;
        case "--no-repack": repack = false; break;
        case "--unified-kv": unified = true; break;
        default:
            Console.Error.WriteLine($"unknown option {args[i]}\n{Usage}");
            return 2;
    }
}

var runner = new LlamaCppRunner { KvType = kv, FlashAttention = fa, RepackWeights = repack, Repetitions = reps, UnifiedKvCache = unified };
Console.WriteLine($"llama.cpp (LLamaSharp 0.30.0) {Path.GetFileName(path)}: threads {threads}, KV {(kv == GGMLType.GGML_TYPE_F16 ? "f16" : "f32")}, " +
                  $"flash attention {(fa ? "on" : "off")}, repack {(repack ? "on" : "off")}, {reps} repetitions");

var (prefill, decode) = runner.Time(path, threads, pp, tg);
Console.WriteLine($"  native: {LlamaCppSetup.LoadedLibraryPath ?? "?"}");
Console.WriteLine($"  system: {System.Runtime.InteropServices.Marshal.PtrToStringUTF8(NativeApi.llama_print_system_info())?.Trim()}");
Console.WriteLine(FormattableString.Invariant($"  pp{pp,-5} {prefill,12:F2} tok/s"));
Console.WriteLine(FormattableString.Invariant($"  tg{tg,-5} {decode,12:F2} tok/s   (after the {pp}-token prompt)"));
foreach (int b in batches)
{
    double rate = runner.DecodeBatchTokPerSec(path, threads, b, ctx, steps);
    Console.WriteLine(FormattableString.Invariant($"  batch {b,3} x {steps} steps at ctx {ctx}: {rate,12:F2} tok/s total, {rate / b,10:F2} tok/s per sequence"));
}
return 0;
