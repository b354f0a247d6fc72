namespace Tandem.Serving.Scheduling;

/// <summary>
/// Running requests ordered by arrival, oldest first: steps serve them in this order and preemption takes
/// the last (the newest), as vLLM does, so the oldest request always makes progress.
/// </summary>
internal sealed class RunningQueue
{
    private readonly List<Request> _items = [];

    public int Count => _items.Count;
    public Request this[int i] => _items[i];
    public Request Newest => _items[^1];
    public IEnumerable<Request> Items => _items;

    public void Add(Request r)
    {
        int i = _items.Count;
        while (i > 0 && _items[i - 1].ArrivalOrder > r.ArrivalOrder) i--;
        _items.Insert(i, r);
    }

    public bool Remove(Request r) => _items.Remove(r);
    public int IndexOf(Request r) => _items.IndexOf(r);
    public int Sum(Func<Request, int> f) { int s = 0; foreach (var r in _items) s += f(r); return s; }
}
