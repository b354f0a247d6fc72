using System.Globalization;
using System.Text;

namespace Tandem.Server.Metrics;

/// <summary>
/// The Prometheus text exposition (format 0.0.4) of a <see cref="MeterCollector"/>'s series. Instrument names carry
/// the prefix with an underscore (<c>vllm_x</c>: OpenTelemetry refuses colons in instrument names, so a user who adds
/// the "Tandem" meter to their own exporter still gets every instrument); here the prefix's underscore becomes the
/// colon vLLM's names have (<c>vllm:x</c>), which the exposition format allows.
/// </summary>
internal static class PrometheusText
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    public static string Write(IReadOnlyList<InstrumentSeries> instruments)
    {
        var text = new StringBuilder(16 * 1024);
        foreach (var instrument in instruments)
        {
            string name = ExposedName(instrument.Instrument.Name);
            text.Append("# HELP ").Append(name).Append(' ').Append(EscapeHelp(instrument.Instrument.Description ?? "")).Append('\n');
            text.Append("# TYPE ").Append(name).Append(' ').Append(instrument.Kind switch
            {
                SeriesKind.Counter => "counter",
                SeriesKind.Histogram => "histogram",
                _ => "gauge",
            }).Append('\n');
            foreach (var s in instrument.Snapshot())
            {
                if (instrument.Kind != SeriesKind.Histogram)
                {
                    Sample(text, name, "", s.Labels, null, s.Value);
                    continue;
                }
                long cumulative = 0;
                var bounds = instrument.Bounds;
                for (int b = 0; b <= bounds.Length; b++)
                {
                    cumulative += s.Buckets![b];
                    Sample(text, name, "_bucket", s.Labels, b < bounds.Length ? Number(bounds[b]) : "+Inf", cumulative);
                }
                Sample(text, name, "_sum", s.Labels, null, s.Value);
                Sample(text, name, "_count", s.Labels, null, s.Count);
            }
        }
        return text.ToString();
    }

    /// <summary>vllm_x → vllm:x, tandem_x → tandem:x; other names as they are.</summary>
    public static string ExposedName(string instrumentName)
    {
        foreach (var prefix in (ReadOnlySpan<string>)["vllm_", "tandem_"])
            if (instrumentName.StartsWith(prefix, StringComparison.Ordinal))
                return string.Concat(prefix.AsSpan(0, prefix.Length - 1), ":", instrumentName.AsSpan(prefix.Length));
        return instrumentName;
    }

    private static void Sample(StringBuilder text, string name, string suffix, KeyValuePair<string, string>[] labels, string? le, double value)
    {
        text.Append(name).Append(suffix);
        if (labels.Length > 0 || le != null)
        {
            text.Append('{');
            bool first = true;
            foreach (var (key, v) in labels)
            {
                if (!first) text.Append(',');
                first = false;
                text.Append(key).Append("=\"");
                EscapeLabel(text, v);
                text.Append('"');
            }
            if (le != null) text.Append(first ? "" : ",").Append("le=\"").Append(le).Append('"');
            text.Append('}');
        }
        text.Append(' ').Append(Number(value)).Append('\n');
    }

    private static string Number(double value) => value switch
    {
        double.PositiveInfinity => "+Inf",
        double.NegativeInfinity => "-Inf",
        double.NaN => "NaN",
        _ => value.ToString("R", CultureInfo.InvariantCulture),
    };

    private static void EscapeLabel(StringBuilder text, string value)
    {
        foreach (char c in value)
        {
            switch (c)
            {
                case '\\': text.Append(@"\\"); break;
                case '"': text.Append("\\\""); break;
                case '\n': text.Append(@"\n"); break;
                default: text.Append(c); break;
            }
        }
    }

    private static string EscapeHelp(string help) => help.Replace(@"\", @"\\").Replace("\n", @"\n");
}
