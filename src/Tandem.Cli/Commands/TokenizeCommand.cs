using System.CommandLine;
using Tandem.Engine.Gguf;
using Tandem.Engine.Tokenization;

namespace Tandem.Cli.Commands;

/// <summary><c>tandem model tokenize</c>: the token ids (and pieces) a model's tokenizer gives a text.</summary>
public static class TokenizeCommand
{
    public static Command Create(CliConsole console)
    {
        var model = ModelArgument.Create(bundledDefault: false, "GGUF file (a model or a vocabulary-only file)");
        var text = new Option<string>("--text") { Description = "Text to tokenize", Required = true };
        var noBos = new Option<bool>("--no-bos") { Description = "Do not add the BOS token even where the model asks for it" };
        var showPieces = new Option<bool>("--pieces") { Description = "After the ids, list each token with its piece, one per line" };
        var parseSpecial = new Option<bool>("--parse-special") { Description = "Match special tokens' text (e.g. <|im_start|>) in the input" };
        var command = new Command("tokenize", "Print the token ids a model's tokenizer gives a text, on one line, space-separated.")
            { model, text, noBos, showPieces, parseSpecial };
        command.SetAction(parse =>
        {
            using var f = GgufFile.Open(ModelArgument.Resolve(parse.GetValue(model), console));
            var tokenizer = Tokenizer.FromGguf(f);
            int[] ids = tokenizer.Encode(parse.GetValue(text)!, !parse.GetValue(noBos), parse.GetValue(parseSpecial));
            console.Out.WriteLine(string.Join(" ", ids));
            if (parse.GetValue(showPieces))
                foreach (int id in ids)
                    console.Out.WriteLine($"{id,8}  {Quote(tokenizer.TokenText(id))}");
            return 0;
        });
        return command;
    }

    // Pieces can hold spaces, control characters and byte tokens: quote and escape so each stays on one line.
    private static string Quote(string piece) =>
        "'" + piece.Replace("\\", "\\\\").Replace("\n", "\\n").Replace("\r", "\\r").Replace("\t", "\\t").Replace("'", "\\'") + "'";
}
