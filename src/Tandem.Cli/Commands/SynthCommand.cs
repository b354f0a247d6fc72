using System.CommandLine;
using Tandem.Engine.Gguf;
using Tandem.Engine.Model;

namespace Tandem.Cli.Commands;

/// <summary><c>tandem model synth</c>: writes a random-weight model of a preset's shape (see <see cref="ModelSynthesizer"/>).</summary>
public static class SynthCommand
{
    public static Command Create(CliConsole console)
    {
        var preset = new Option<string>("--preset", "-p")
        {
            Description = $"Model shape: {string.Join(", ", ModelPresets.All.Select(p => p.Name))}",
            Required = true,
        };
        var type = new Option<string>("--type", "-t")
        {
            Description = $"Weight type: {string.Join(", ", ModelSynthesizer.WeightTypes.Select(TypeName))} (norms and biases stay f32)",
            Required = true,
        };
        var vocabFrom = new Option<string>("--vocab-from")
        {
            Description = "GGUF file whose tokenizer (every tokenizer.* key) is copied; the vocabulary size follows it",
            Required = true,
        };
        var output = new Option<string>("--output", "-o") { Description = "Output GGUF file", Required = true };
        var seed = new Option<ulong>("--seed") { Description = "Random seed (same seed, same bytes)", DefaultValueFactory = _ => 0 };
        var layers = new Option<int?>("--layers") { Description = "Override the preset's number of layers" };
        var context = new Option<int?>("--context") { Description = "Override the preset's training context length" };

        var command = new Command("synth", "Write a model of a real shape with seeded random weights.")
        {
            preset, type, vocabFrom, output, seed, layers, context,
        };
        command.SetAction(parse =>
        {
            string presetName = parse.GetValue(preset)!;
            if (!ModelPresets.TryGet(presetName, out var shape))
                throw new CliUsageException($"unknown preset '{presetName}' (known: {string.Join(", ", ModelPresets.All.Select(p => p.Name))})");
            string typeName = parse.GetValue(type)!;
            if (!GgmlTypeInfo.TryParse(typeName, out var weightType) || !ModelSynthesizer.WeightTypes.Contains(weightType))
                throw new CliUsageException($"unknown or unsupported weight type '{typeName}' (supported: {string.Join(", ", ModelSynthesizer.WeightTypes.Select(TypeName))})");
            var options = new SynthesisOptions
            {
                Preset = shape,
                WeightType = weightType,
                VocabFrom = parse.GetValue(vocabFrom)!,
                Seed = parse.GetValue(seed),
                BlockCount = parse.GetValue(layers),
                ContextLength = parse.GetValue(context),
            };
            string path = parse.GetValue(output)!;

            string header = $"synthesizing {shape.Name} ({TypeName(weightType)}, seed {options.Seed}) -> {path}";
            var result = ModelSynthesizer.Synthesize(options, path, new StepProgress(console.Error, header));
            PrintSummary(console.Out, result, weightType);
            return 0;
        });
        return command;
    }

    private static string TypeName(GgmlType t) => GgmlTypeInfo.Name(t).ToLowerInvariant();

    private static void PrintSummary(TextWriter o, SynthesisResult r, GgmlType weightType)
    {
        var s = r.Shape;
        o.WriteLine($"wrote {r.Path}");
        o.WriteLine($"  model:      {s.Name} ({s.ArchitectureName}), {s.BlockCount} layers, hidden {s.EmbeddingLength}, " +
                    $"{s.HeadCount} heads / {s.HeadCountKv} KV heads, FFN {s.FeedForwardLength}, context {s.ContextLength}, vocab {r.VocabSize}");
        o.WriteLine($"  weights:    {TypeName(weightType)}");
        string byType = string.Join(", ", r.Tensors.GroupBy(t => t.Type).OrderBy(g => g.Key).Select(g => $"{GgmlTypeInfo.Name(g.Key)}: {g.Count()}"));
        o.WriteLine($"  tensors:    {r.Tensors.Count} ({byType})");
        o.WriteLine($"  parameters: {HumanUnits.Count(r.ParameterCount)} ({r.ParameterCount})");
        o.WriteLine($"  size:       {HumanUnits.Bytes(r.FileSize)} ({r.FileSize} bytes)");
        var fallbacks = r.Fallbacks;
        if (fallbacks.Count == 0)
        {
            o.WriteLine("  fallbacks:  none");
            return;
        }
        o.WriteLine($"  fallbacks:  {fallbacks.Count} tensors whose rows do not fit {GgmlTypeInfo.Name(weightType)} blocks (as llama-quantize):");
        foreach (var t in fallbacks)
            o.WriteLine($"    {t.Name} {t.ShapeText}: {GgmlTypeInfo.Name(t.RequestedType)} -> {GgmlTypeInfo.Name(t.Type)}");
    }

    /// <summary>
    /// Writes a progress line at each 10% of the tensor data, synchronously (Progress&lt;T&gt; would post to the
    /// thread pool). The header waits for the first report, so a command that fails its checks prints only its error.
    /// </summary>
    private sealed class StepProgress(TextWriter error, string header) : IProgress<GgufWriteProgress>
    {
        private int _lastStep = -1;

        public void Report(GgufWriteProgress p)
        {
            if (_lastStep < 0 && header.Length > 0) error.WriteLine(header);
            int step = p.TotalBytes == 0 ? 10 : (int)(p.BytesWritten * 10 / p.TotalBytes);
            if (step <= _lastStep) return;
            _lastStep = step;
            error.WriteLine($"  {step * 10,3}%  {HumanUnits.Bytes(p.BytesWritten)} of {HumanUnits.Bytes(p.TotalBytes)}  (tensor {p.TensorIndex + 1}/{p.TensorCount} {p.TensorName})");
        }
    }
}
