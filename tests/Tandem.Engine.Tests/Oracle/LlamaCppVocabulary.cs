using System.Text;
using LLama.Native;

namespace Tandem.Engine.Tests.Oracle;

/// <summary>
/// llama.cpp's text side of a GGUF file (through LLamaSharp's low-level API): tokenization and token pieces.
/// Opened on its own it loads the file vocabulary-only, so llama.cpp's vocabulary-only files
/// (../shared/models/vocab) work as well as whole models; <see cref="LlamaCppOracle"/> shares its loaded model.
/// Not thread-safe.
/// </summary>
public sealed class LlamaCppVocabulary : IDisposable
{
    private readonly SafeLlamaModelHandle _model;
    private readonly bool _ownsModel;
    private byte[] _pieceBuffer = new byte[64];

    /// <summary>Loads only the vocabulary of <paramref name="ggufPath"/> (llama_model_params.vocab_only).</summary>
    public LlamaCppVocabulary(string ggufPath)
    {
        if (!File.Exists(ggufPath))
            throw new FileNotFoundException("GGUF file not found", ggufPath);
        LlamaCppNative.EnsureInitialized();
        var modelParams = LLamaModelParams.Default();
        modelParams.vocab_only = true;
        try
        {
            _model = SafeLlamaModelHandle.LoadFromFile(ggufPath, modelParams);
        }
        catch (Exception e)
        {
            throw new InvalidOperationException($"llama.cpp could not load the vocabulary of {ggufPath}: {LlamaCppNative.LastProblem}", e);
        }
        _ownsModel = true;
    }

    /// <summary>The vocabulary of a model the caller keeps loaded (and disposes).</summary>
    internal LlamaCppVocabulary(SafeLlamaModelHandle model) => _model = model;

    public int Count => _model.Vocab.Count;

    /// <summary>
    /// llama_tokenize. <paramref name="addBos"/> is llama.cpp's add_special (BOS, and EOS where the vocabulary asks
    /// for it); <paramref name="parseSpecial"/> lets control-token text such as "&lt;s&gt;" become the control token.
    /// </summary>
    public int[] Tokenize(string text, bool addBos, bool parseSpecial = false)
    {
        var tokens = _model.Tokenize(text, addBos, parseSpecial, Encoding.UTF8);
        var ids = new int[tokens.Length];
        for (int i = 0; i < tokens.Length; i++)
            ids[i] = (int)tokens[i];
        return ids;
    }

    /// <summary>
    /// The bytes of llama_token_to_piece(token, lstrip: 0, special: <paramref name="special"/>); with special false,
    /// control tokens render as nothing.
    /// </summary>
    public byte[] TokenPiece(int token, bool special = false)
    {
        if ((uint)token >= (uint)Count)
            throw new ArgumentOutOfRangeException(nameof(token), token, $"token id outside the vocabulary (0..{Count - 1})");
        uint size = _model.TokenToSpan(token, _pieceBuffer, 0, special);
        if (size > _pieceBuffer.Length)
        {
            _pieceBuffer = new byte[Math.Max(size, (uint)_pieceBuffer.Length * 2)];
            size = _model.TokenToSpan(token, _pieceBuffer, 0, special);
        }
        return _pieceBuffer.AsSpan(0, (int)size).ToArray();
    }

    /// <summary>
    /// The text llama.cpp's server streams (and llama-cli prints) for these generated tokens: each token's
    /// <see cref="TokenPiece"/> (no lstrip, control tokens empty) concatenated, decoded as UTF-8 once at the end.
    /// Not llama_detokenize, which drops the first token's leading space and may clean up spaces.
    /// </summary>
    public string StreamedText(ReadOnlySpan<int> tokens)
    {
        var bytes = new List<byte>();
        foreach (int token in tokens)
            bytes.AddRange(TokenPiece(token));
        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    public void Dispose()
    {
        if (_ownsModel)
            _model.Dispose();
    }
}
