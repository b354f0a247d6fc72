namespace Tandem.Engine.Kernels;

/// <summary>
/// One to three weight matrices that read the same activations (Q, K and V; gate and up), as one team job: their
/// items (row tiles or rows, as the <see cref="IMatMulBody"/> counts them) are numbered one matrix after the other,
/// and a chunk that spans the end of one matrix is split between the two. The activations are converted once for
/// all of them and the team runs one job instead of one per matrix. Each (row, token) is computed by the same kernel
/// call as in a matmul of its matrix alone (kernel results never depend on the tiling), so results are bit-identical.
/// </summary>
internal sealed unsafe class MatMulParts : IParallelJob
{
    public const int MaxParts = 3;

    private readonly WeightMatrix[] _w = new WeightMatrix[MaxParts];
    private readonly nint[] _y = new nint[MaxParts];
    private readonly int[] _firstItem = new int[MaxParts + 1];
    private IMatMulBody? _body;

    public int Count { get; private set; }

    public ref readonly WeightMatrix this[int part] => ref _w[part];

    public void Clear() => Count = 0;

    public void Add(in WeightMatrix w, float* y)
    {
        if (Count == MaxParts) throw new InvalidOperationException($"at most {MaxParts} matrices share a matmul job");
        _w[Count] = w;
        _y[Count] = (nint)y;
        Count++;
    }

    /// <summary>Gives the parts to <paramref name="body"/>; returns the job's item count (all parts' items).</summary>
    public int Prepare(IMatMulBody body)
    {
        _body = body;
        int items = 0;
        for (int p = 0; p < Count; p++)
        {
            _firstItem[p] = items;
            items += body.Items(_w[p]);
        }
        _firstItem[Count] = items;
        return items;
    }

    public void Execute(int begin, int end, int worker)
    {
        for (int p = 0; p < Count && begin < end; p++)
        {
            int first = _firstItem[p], next = _firstItem[p + 1];
            if (begin >= next) continue;
            int stop = Math.Min(end, next);
            _body!.Execute(_w[p], (float*)_y[p], begin - first, stop - first, worker);
            begin = stop;
        }
    }
}
