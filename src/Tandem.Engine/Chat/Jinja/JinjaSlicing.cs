namespace Tandem.Engine.Chat.Jinja;

/// <summary>Python's <c>seq[start:stop:step]</c>: negative indices count from the end, out-of-range ones clamp.</summary>
internal static class JinjaSlicing
{
    public static List<T> Slice<T>(List<T> items, long? start, long? stop, long? step)
    {
        long n = items.Count;
        long s = step ?? 1;
        if (s == 0)
            throw new JinjaException("slice step cannot be zero");
        long from, to;
        if (s > 0)
        {
            from = start is { } a ? (a < 0 ? Math.Max(n + a, 0) : Math.Min(a, n)) : 0;
            to = stop is { } b ? (b < 0 ? Math.Max(n + b, 0) : Math.Min(b, n)) : n;
        }
        else
        {
            from = start is { } a ? (a < 0 ? Math.Max(n + a, -1) : Math.Min(a, n - 1)) : n - 1;
            to = stop is { } b ? (b < 0 ? Math.Max(n + b, -1) : Math.Min(b, n - 1)) : -1;
        }
        var result = new List<T>();
        for (long i = from; s > 0 ? i < to : i > to; i += s)
            result.Add(items[(int)i]);
        return result;
    }

    /// <summary>Python's index: negative counts from the end; null when out of range.</summary>
    public static int? Index(long index, int count)
    {
        long i = index < 0 ? count + index : index;
        return i >= 0 && i < count ? (int)i : null;
    }
}
