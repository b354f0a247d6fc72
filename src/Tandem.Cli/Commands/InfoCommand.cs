using System.CommandLine;
using System.Globalization;
using Tandem.Engine.Gguf;
using Tandem.Engine.Model;

namespace Tandem.Cli.Commands;

/// <summary><c>tandem model info FILE</c>: what a GGUF file holds, without loading its weights.</summary>
public static class InfoCommand
{
    public static Command Create(CliConsole console)
    {
        var file = new Argument<string>("file") { Description = "GGUF file" };
        var tensors = new Option<bool>("--tensors") { Description = "List every tensor (name, type, shape)" };
        var command = new Command("info", "Show a GGUF model's architecture, hyperparameters, tensors and tokenizer.") { file, tensors };
        command.SetAction(parse =>
        {
            using var f = GgufFile.Open(parse.GetValue(file)!);
            Print(console.Out, f, parse.GetValue(tensors));
            return 0;
        });
        return command;
    }

    private static void Print(TextWriter o, GgufFile f, bool listTensors)
    {
        string Num(double v) => v.ToString("G7", CultureInfo.InvariantCulture);

        o.WriteLine($"file:           {f.Path}");
        o.WriteLine($"file size:      {HumanUnits.Bytes(f.FileSize)} ({f.FileSize} bytes)");
        o.WriteLine($"GGUF version:   {f.Version}");
        o.WriteLine($"architecture:   {f.GetString("general.architecture") ?? "(none)"}");
        if (f.GetString("general.name") is { } name) o.WriteLine($"name:           {name}");
        if (f.GetInteger("general.file_type") is { } ft) o.WriteLine($"file type:      {LlamaFileType.Name(ft)} ({ft})");
        o.WriteLine($"alignment:      {f.Alignment}");
        o.WriteLine($"metadata keys:  {f.Metadata.Count}");

        ModelConfig? config = null;
        string? configError = null;
        try { config = ModelConfig.FromGguf(f); }
        catch (GgufFormatException e) { configError = e.Message; }
        if (config is { } c)
        {
            o.WriteLine("hyperparameters:");
            o.WriteLine($"  embedding length:     {c.EmbeddingLength}");
            o.WriteLine($"  layers:               {c.BlockCount}");
            o.WriteLine($"  feed-forward length:  {c.FeedForwardLength}");
            o.WriteLine($"  attention heads:      {c.HeadCount} (KV heads {c.HeadCountKv}, head dim {c.HeadDim})");
            o.WriteLine($"  rope:                 {c.RopeDimensions} dims, freq base {Num(c.RopeFreqBase)}, freq scale {Num(c.RopeFreqScale)}");
            o.WriteLine($"  rms norm epsilon:     {Num(c.RmsNormEpsilon)}");
            o.WriteLine($"  context length:       {c.ContextLength}");
            o.WriteLine($"  vocab size:           {c.VocabSize}");
        }
        else
        {
            o.WriteLine($"hyperparameters: unavailable ({configError})");
        }

        long parameters = f.Tensors.Sum(t => t.ElementCount);
        o.WriteLine($"parameters:     {HumanUnits.Count(parameters)} ({parameters})");
        string byType = string.Join(", ", f.Tensors.GroupBy(t => t.Type).OrderBy(g => g.Key)
            .Select(g => $"{GgmlTypeInfo.Name(g.Key)}: {g.Count()}"));
        o.WriteLine($"tensors:        {f.Tensors.Count}{(f.Tensors.Count > 0 ? $" ({byType})" : "")}");

        PrintTokenizer(o, f);

        if (listTensors && f.Tensors.Count > 0)
        {
            int width = f.Tensors.Max(t => t.Name.Length);
            o.WriteLine("tensor list:");
            foreach (var t in f.Tensors)
                o.WriteLine($"  {t.Name.PadRight(width)}  {GgmlTypeInfo.Name(t.Type),-7}  {t.ShapeText}");
        }
    }

    private static void PrintTokenizer(TextWriter o, GgufFile f)
    {
        string? model = f.GetString("tokenizer.ggml.model");
        if (model == null)
        {
            o.WriteLine("tokenizer:      (none)");
            return;
        }
        int vocab = f.Metadata.TryGetValue("tokenizer.ggml.tokens", out var tokens) && tokens.Value is Array a ? a.Length : 0;
        string pre = f.GetString("tokenizer.ggml.pre") ?? "(default)";
        o.WriteLine($"tokenizer:      model {model}, pre {pre}, {vocab} tokens");

        // Every tokenizer.ggml.*_token_id key, in file order: bos, eos, unknown, padding, seperator (sic), eot ...
        const string prefix = "tokenizer.ggml.", suffix = "_token_id";
        var ids = f.MetadataKeys
            .Where(k => k.StartsWith(prefix, StringComparison.Ordinal) && k.EndsWith(suffix, StringComparison.Ordinal))
            .Select(k => $"{k[prefix.Length..^suffix.Length]} {f.Metadata[k]}")
            .ToList();
        if (ids.Count > 0) o.WriteLine($"  special ids:  {string.Join(", ", ids)}");
        var flags = new[] { "add_bos_token", "add_eos_token", "add_space_prefix" }
            .Where(k => f.Has(prefix + k))
            .Select(k => $"{k} {(f.Metadata[prefix + k].Value is bool b ? (b ? "true" : "false") : f.Metadata[prefix + k].ToString())}")
            .ToList();
        if (flags.Count > 0) o.WriteLine($"  flags:        {string.Join(", ", flags)}");
    }
}
