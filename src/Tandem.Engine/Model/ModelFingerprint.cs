using System.IO.Hashing;
using System.Text;

namespace Tandem.Engine.Model;

/// <summary>
/// Identifies a model exactly: a 128-bit XxHash of its architecture, hyperparameters, tensor names, types,
/// shapes and every weight byte. Two engines exchange KV caches only when their fingerprints match, since
/// a cache is meaningless under other weights. Hashing reads the whole file once (XxHash128 runs at
/// memory speed: ~0.1 s for 1 GB), so it is computed on first use and kept.
/// </summary>
public readonly record struct ModelFingerprint(ulong High, ulong Low)
{
    public static ModelFingerprint Compute(LanguageModel model)
    {
        var h = new XxHash128();
        var c = model.Config;
        h.Append(Encoding.UTF8.GetBytes(
            $"{c.ArchitectureName}|{c.EmbeddingLength}|{c.BlockCount}|{c.FeedForwardLength}|{c.HeadCount}|{c.HeadCountKv}|" +
            $"{c.HeadDim}|{c.RopeDimensions}|{c.RopeFreqBase:R}|{c.RopeFreqScale:R}|{c.RmsNormEpsilon:R}|{c.VocabSize}"));
        foreach (var t in model.File.Tensors)
        {
            h.Append(Encoding.UTF8.GetBytes($"|{t.Name}:{(uint)t.Type}:{t.ShapeText}"));
            if (t.ByteSize <= 0) continue;
            unsafe
            {
                for (long off = 0; off < t.ByteSize; off += int.MaxValue / 2)
                    h.Append(new ReadOnlySpan<byte>(t.Data + off, (int)Math.Min(int.MaxValue / 2, t.ByteSize - off)));
            }
        }
        var hash = h.GetCurrentHashAsUInt128();
        return new ModelFingerprint((ulong)(hash >> 64), (ulong)hash);
    }

    public override string ToString() => $"{High:x16}{Low:x16}";
}
