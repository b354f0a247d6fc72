using Tandem.Server.Generation;

namespace Tandem.Server.Admission;

/// <summary>
/// The admitted choices of one call, each counted as waiting until its first token comes or it ends (whichever is
/// first; later calls do nothing). Thread-safe: choices stream on their own tasks.
/// </summary>
internal sealed class AdmissionTicket(AdmissionControl control, GenerationPlan plan)
{
    private readonly int[] _started = new int[plan.ChoiceCount];

    public void Started(int choice)
    {
        if (Interlocked.Exchange(ref _started[choice], 1) == 0)
            control.Started(plan.Prompts[choice / plan.N].Length);
    }

    /// <summary>The call is over: whatever never started waits no more.</summary>
    public void EndAll()
    {
        for (int i = 0; i < _started.Length; i++)
            Started(i);
    }
}
