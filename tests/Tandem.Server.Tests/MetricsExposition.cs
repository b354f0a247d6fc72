using System.Text.RegularExpressions;

namespace Tandem.Server.Tests;

/// <summary>A Prometheus text exposition read back: each metric family's type and label names, and every sample name.</summary>
public sealed partial class MetricsExposition
{
    private MetricsExposition(string text) => Text = text;

    public string Text { get; }
    /// <summary>Family name → its # TYPE.</summary>
    public Dictionary<string, string> Types { get; } = [];
    /// <summary>Family name → the label names its samples carry (le of histogram buckets left out).</summary>
    public Dictionary<string, SortedSet<string>> Labels { get; } = [];
    /// <summary>Every sample's name (histograms: name_bucket, name_sum, name_count).</summary>
    public HashSet<string> SampleNames { get; } = [];

    public static MetricsExposition Parse(string text)
    {
        var e = new MetricsExposition(text);
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                var parts = line.Split(' ');
                e.Types[parts[2]] = parts[3];
                e.Labels.TryAdd(parts[2], []);
                continue;
            }
            if (line.Length == 0 || line.StartsWith('#')) continue;
            var m = Sample().Match(line);
            Assert.True(m.Success, $"not a sample line: {line}");
            string name = m.Groups["name"].Value;
            e.SampleNames.Add(name);
            string family = e.Types.ContainsKey(name) ? name : Regex.Replace(name, "_(bucket|sum|count)$", "");
            Assert.True(e.Types.ContainsKey(family), $"sample {name} has no # TYPE line before it");
            foreach (Match label in LabelName().Matches(m.Groups["labels"].Value))
                if (label.Groups[1].Value != "le") e.Labels[family].Add(label.Groups[1].Value);
        }
        return e;
    }

    /// <summary>"name type label,label" per family, sorted: what the golden file holds.</summary>
    public string Shape() => string.Join("\n", Types.Keys.Order(StringComparer.Ordinal)
        .Select(n => $"{n} {Types[n]} {string.Join(",", Labels[n])}".TrimEnd())) + "\n";

    [GeneratedRegex(@"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>.*)\})? (?<value>\S+)$")]
    private static partial Regex Sample();

    [GeneratedRegex(@"([a-zA-Z_][a-zA-Z0-9_]*)=""(?:[^""\\]|\\.)*""")]
    private static partial Regex LabelName();
}
