namespace Tandem.Serving.Scheduling;

/// <summary>Where a request is in its life, in vLLM's terms plus DistServe's migration states.</summary>
public enum RequestStatus
{
    /// <summary>Queued for (re)computation of its prompt: new, or preempted and waiting to be recomputed.</summary>
    Waiting,
    /// <summary>Being computed: prompt chunks on a prefill or colocated instance, or decode steps.</summary>
    Running,
    /// <summary>Prefill done, KV held in the prefill pool until a decode instance pulls it.</summary>
    WaitingForMigration,
    FinishedStopped,
    FinishedLengthCapped,
    FinishedCancelled,
    FinishedError,
}
