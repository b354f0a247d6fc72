using System.CommandLine;
using Tandem.Engine.Gguf;
using Tandem.Engine.Tokenization;

namespace Tandem.Cli.Commands;

/// <summary><c>tandem model tokenize</c>: the token ids (and pieces) a model's tokenizer gives a text.</summary>
public static class TokenizeCommand
{
    public static Command Create(CliConsole console)
    {
        var model = new Option<string>("--model", "-m") { Description = "GGUF file (a model or a vocabulary-only file)", Required = true };
        var text = new Option<string>("--text") { Description = "Text to tokenize", Required = true };
        var noBos = new Option<bool>("--no-bos") { Description = "Do not add the BOS token even where the model asks for it" };
        var command = new Command("tokenize", "Tokenize a text with a model's tokenizer.") { model, text, noBos };
        command.SetAction(parse =>
        {
            using var f = GgufFile.Open(parse.GetValue(model)!);
            var tokenizer = Tokenizer.FromGguf(f);
            var ids = tokenizer.Encode(parse.GetValue(text)!, !parse.GetValue(noBos));
            string[] pieces = f.GetArray<string>("tokenizer.ggml.tokens") ?? [];
            var list = new List<int>();
            foreach (int id in ids) list.Add(id);
            console.Out.WriteLine(string.Join(" ", list));
            foreach (int id in list)
                console.Out.WriteLine($"{id,8}  {(id >= 0 && id < pieces.Length ? Quote(pieces[id]) : "?")}");
            return 0;
        });
        return command;
    }

    // Pieces can hold spaces, control characters and byte tokens: quote and escape so each stays on one line.
    private static string Quote(string piece) =>
        "'" + piece.Replace("\\", "\\\\").Replace("\n", "\\n").Replace("\r", "\\r").Replace("\t", "\\t").Replace("'", "\\'") + "'";
}
