namespace Tandem.Server.Metrics;

/// <summary>One series: its labels (in the order the instrument gives them), and its sum, value or histogram.</summary>
internal sealed class Series
{
    public Series(ReadOnlySpan<KeyValuePair<string, object?>> tags, long[]? buckets)
    {
        Labels = new KeyValuePair<string, string>[tags.Length];
        for (int i = 0; i < tags.Length; i++) Labels[i] = new(tags[i].Key, Convert.ToString(tags[i].Value, System.Globalization.CultureInfo.InvariantCulture) ?? "");
        Buckets = buckets;
    }

    private Series(KeyValuePair<string, string>[] labels, long[]? buckets) { Labels = labels; Buckets = buckets; }

    public KeyValuePair<string, string>[] Labels { get; }
    /// <summary>Counter sum, gauge value, or histogram sum.</summary>
    public double Value { get; set; }
    /// <summary>Histograms: observations per bucket (not cumulative), the last one past every bound.</summary>
    public long[]? Buckets { get; }
    public long Count { get; set; }
    internal bool Stale { get; set; }

    public Series Copy() => new(Labels, (long[]?)Buckets?.Clone()) { Value = Value, Count = Count };

    public bool Matches(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (tags.Length != Labels.Length) return false;
        for (int i = 0; i < tags.Length; i++)
        {
            if (!string.Equals(tags[i].Key, Labels[i].Key, StringComparison.Ordinal)) return false;
            bool same = tags[i].Value is string text
                ? string.Equals(text, Labels[i].Value, StringComparison.Ordinal)
                : string.Equals(Convert.ToString(tags[i].Value, System.Globalization.CultureInfo.InvariantCulture), Labels[i].Value, StringComparison.Ordinal);
            if (!same) return false;
        }
        return true;
    }
}
