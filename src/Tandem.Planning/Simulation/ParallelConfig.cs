namespace Tandem.Planning.Simulation;

/// <summary>
/// How one instance is parallelised: <see cref="Tp"/>-way inside each stage (cores of a CPU instance, tensor-parallel
/// GPUs) and <see cref="Pp"/> pipeline stages. It uses Tp × Pp devices.
/// </summary>
public readonly record struct ParallelConfig(int Tp, int Pp = 1)
{
    public int Devices => Tp * Pp;
    public override string ToString() => Pp == 1 ? $"tp{Tp}" : $"tp{Tp}·pp{Pp}";
}
