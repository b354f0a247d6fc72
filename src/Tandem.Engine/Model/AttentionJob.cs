using System.Numerics.Tensors;
using Tandem.Engine.Kernels;

namespace Tandem.Engine.Model;

/// <summary>
/// Causal self-attention of a chunk of n new tokens against a sequence's cache, one (token, head) pair
/// per item: scores = K·q · 1/sqrt(headDim), softmax, then the weighted sum of V (the order of
/// llama.cpp's non-flash path: kq = mul_mat(k, q), soft_max_ext(kq, mask, scale), mul_mat(v, kq)).
/// </summary>
internal sealed class AttentionJob : IParallelJob
{
    private readonly ModelConfig _c;
    private readonly float[][] _scores; // per worker, one context's worth

    private float[] _q = [];
    private float[] _out = [];
    private float[] _keys = [];
    private float[] _values = [];
    private int _start;

    public AttentionJob(ModelConfig c, int workers, int capacity)
    {
        _c = c;
        _scores = new float[workers][];
        for (int i = 0; i < workers; i++) _scores[i] = new float[capacity];
    }

    /// <param name="q">n × qDim queries (after RoPE).</param>
    /// <param name="output">n × qDim attention output.</param>
    /// <param name="keys">Layer's keys, position-major, already holding the n new tokens.</param>
    /// <param name="start">Position of the first of the n new tokens.</param>
    public void Set(float[] q, float[] output, float[] keys, float[] values, int start)
    {
        _q = q; _out = output; _keys = keys; _values = values; _start = start;
    }

    public void Execute(int begin, int end, int worker)
    {
        int heads = _c.HeadCount, hd = _c.HeadDim, kvDim = _c.KvDim, qDim = _c.QDim;
        int group = heads / _c.HeadCountKv;
        float scale = 1.0f / MathF.Sqrt(hd);
        var scores = _scores[worker];
        for (int item = begin; item < end; item++)
        {
            int t = item / heads, h = item % heads;
            int kvOff = h / group * hd;
            int len = _start + t + 1; // causal: this token sees positions 0.._start+t
            var q = new ReadOnlySpan<float>(_q, t * qDim + h * hd, hd);
            var s = scores.AsSpan(0, len);
            for (int j = 0; j < len; j++)
                s[j] = TensorPrimitives.Dot(new ReadOnlySpan<float>(_keys, j * kvDim + kvOff, hd), q) * scale;
            Softmax.Apply(s);
            var o = new Span<float>(_out, t * qDim + h * hd, hd);
            o.Clear();
            for (int j = 0; j < len; j++)
                TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(_values, j * kvDim + kvOff, hd), s[j], o, o);
        }
    }
}
