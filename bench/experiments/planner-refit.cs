#:project ../../src/Tandem.Planning/Tandem.Planning.csproj
#:property PublishAot=false
// Refits a latency profile from the timed points `tandem profile` printed to its log (profile.log), with the fit of
// the code at hand, keeping everything else of the profile: how docs/experiments/planner.md compares fits on one set
// of measurements. Usage: dotnet run bench/experiments/planner-refit.cs -- PROFILE.json PROFILE.log OUT.json
using System.Text.RegularExpressions;
using Tandem.Planning.Profiles;
var old = LatencyProfileJson.Read(args[0]);
var lines = File.ReadAllLines(args[1]);
var configs = new List<ConfigLatency>();
foreach (var c in old.Configs)
{
    var pre = new List<TimedPoint>(); var dec = new List<TimedPoint>();
    foreach (var l in lines)
    {
        var m = Regex.Match(l, $@"^\s*{c.Tp} core\(s\) \[\d+/\d+\] prefill (\d+) prompt\(s\), (\d+) tokens: ([\d.]+) ms");
        if (m.Success) { int k = int.Parse(m.Groups[1].Value), t = int.Parse(m.Groups[2].Value); double sq = 0; for (int i = 0; i < k; i++) { double len = t / k + (i < t % k ? 1 : 0); sq += len * len; } pre.Add(new TimedPoint(t, sq, double.Parse(m.Groups[3].Value) / 1000)); }
        m = Regex.Match(l, $@"^\s*{c.Tp} core\(s\) \[\d+/\d+\] decode batch (\d+), context (\d+): ([\d.]+) ms");
        if (m.Success) { int b = int.Parse(m.Groups[1].Value), ctx = int.Parse(m.Groups[2].Value); dec.Add(new TimedPoint((double)b * (ctx + 1), b, double.Parse(m.Groups[3].Value) / 1000)); }
    }
    var (p, pe) = LeastSquaresFit.Fit(pre); var (d, de) = LeastSquaresFit.FitDecode(dec);
    configs.Add(c with { Prefill = p, Decode = d, PrefillFit = pe, DecodeFit = de });
    Console.WriteLine($"{c.Tp}: {pre.Count}+{dec.Count} points; prefill {p} err {pe}; decode {string.Join(" | ", d)} err {de}");
}
LatencyProfileJson.Write(args[2], old with { Configs = configs });
