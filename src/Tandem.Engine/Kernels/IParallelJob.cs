namespace Tandem.Engine.Kernels;

/// <summary>
/// Work a <see cref="ThreadTeam"/> splits by item index. Jobs are long-lived objects whose fields are
/// set before each run, so that running one allocates nothing.
/// </summary>
public interface IParallelJob
{
    /// <summary>Processes items [begin, end) on team member <paramref name="worker"/> (0 = the caller).</summary>
    void Execute(int begin, int end, int worker);
}
