using Tandem.Engine.Gguf;

namespace Tandem.Bench;

/// <summary>
/// The weight bytes one batch-1 decode step reads from memory, from a GGUF file's tensor table: every tensor in full
/// (each layer's matrices and norms, the final norm, and the output matrix that the logits of every step need),
/// except the token embedding when a separate output matrix exists: the step then reads one row of it (the token
/// looked up). With tied embeddings (no <c>output.weight</c>) the embedding matrix <em>is</em> the output matrix and is
/// counted in full. KV cache reads are not counted: they grow with the context and are small beside the weights at
/// the bench's lengths. Divided by the measured read bandwidth (<see cref="ReadBandwidth"/>) it gives the decode
/// speed no engine can beat on that machine.
/// </summary>
/// <param name="Layers">Every tensor but the embedding and the output matrix: the layers and the final norm.</param>
/// <param name="Output">The output matrix (the embedding matrix when tied).</param>
/// <param name="EmbeddingRead">One row of the embedding matrix when it is not tied, else 0 (counted in <paramref name="Output"/>).</param>
/// <param name="TiedOutput">Whether the embedding matrix serves as the output matrix.</param>
public sealed record DecodeWeightBytes(long Layers, long Output, long EmbeddingRead, bool TiedOutput)
{
    public const string EmbeddingTensor = "token_embd.weight";
    public const string OutputTensor = "output.weight";

    /// <summary>Bytes read per decode token.</summary>
    public long Total => Layers + Output + EmbeddingRead;

    public static DecodeWeightBytes Of(string ggufPath)
    {
        using var file = GgufFile.Open(ggufPath);
        return Of(file.Tensors);
    }

    public static DecodeWeightBytes Of(IReadOnlyList<GgufTensorInfo> tensors)
    {
        var embedding = tensors.FirstOrDefault(t => t.Name == EmbeddingTensor)
            ?? throw new InvalidDataException($"no {EmbeddingTensor} tensor: not a llama-family model");
        var output = tensors.FirstOrDefault(t => t.Name == OutputTensor);
        bool tied = output is null;
        long rest = tensors.Where(t => t.Name is not (EmbeddingTensor or OutputTensor)).Sum(t => t.ByteSize);
        return tied
            ? new DecodeWeightBytes(rest, embedding.ByteSize, 0, TiedOutput: true)
            : new DecodeWeightBytes(rest, output!.ByteSize, embedding.RowBytes, TiedOutput: false);
    }
}
