namespace Tandem.Planning.Search;

/// <summary>
/// How one instance spreads over devices: <see cref="Tensor"/> devices per pipeline stage (DistServe's intra-op
/// degree) times <see cref="Pipeline"/> stages (inter-op degree). On a CPU a device is a core: tensor = cores per
/// instance, pipeline 1.
/// </summary>
public readonly record struct Parallelism
{
    public Parallelism(int tensor, int pipeline = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(tensor, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(pipeline, 1);
        Tensor = tensor;
        Pipeline = pipeline;
    }

    public int Tensor { get; }
    public int Pipeline { get; }
    public int Devices => Tensor * Pipeline;

    public override string ToString() => Pipeline == 1 ? $"TP{Tensor}" : $"TP{Tensor}·PP{Pipeline}";
}
