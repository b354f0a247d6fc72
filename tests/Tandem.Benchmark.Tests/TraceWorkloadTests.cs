using Tandem.Benchmark.Workloads;

namespace Tandem.Benchmark.Tests;

public class TraceWorkloadTests
{
    private static string Write(params string[] lines)
    {
        string path = Path.Combine(TestPaths.NewTempDir(), "trace.jsonl");
        File.WriteAllLines(path, lines);
        return path;
    }

    [Fact]
    public void RowsGiveExactLengthsAndTheirArrivalTimes()
    {
        // Absolute timestamps replay relative to the first row.
        string path = Write(
            "{\"input_len\": 12, \"output_len\": 3, \"timestamp\": 1700000000.5}",
            "",
            "{\"input_len\": 7, \"output_len\": 1, \"timestamp\": 1700000001.0}",
            "{\"input_len\": 30, \"output_len\": 9, \"timestamp\": 1700000002.5}");
        Assert.True(TraceWorkload.IsTrace(path));
        var trace = TraceWorkload.Read(path);
        Assert.True(trace.HasArrivalTimes);
        Assert.Equal([1, 3, 4], trace.Entries.Select(e => e.Line));
        Assert.Equal([0.0, 0.5, 2.0], trace.Offsets);
        Assert.Equal(2 / 2.0, trace.NativeRate, 12); // 3 rows over 2 s
        Assert.Equal([0.0, 0.5, 2.0], trace.ArrivalTimesAt(trace.NativeRate));
        Assert.Equal([0.0, 0.25, 1.0], trace.ArrivalTimesAt(2.0)); // twice the trace's pace: same pattern, half the time
        Assert.Equal([0.0, 0.0, 0.0], trace.ArrivalTimesAt(double.PositiveInfinity));

        var ids = TraceWorkload.Requests(trace, 100, seed: 1, format: PromptFormat.TokenIds);
        Assert.Equal([12, 7, 30], ids.Select(r => r.PromptTokenIds!.Length));
        Assert.Equal([12, 7, 30], ids.Select(r => r.PromptTokens));
        Assert.Equal([3, 1, 9], ids.Select(r => r.OutputTokens));
        Assert.Equal([0, 1, 2], ids.Select(r => r.Index));
        var text = TraceWorkload.Requests(trace.Take(2), 100, seed: 1, fixedOutputLength: 5);
        Assert.Equal([12, 7], text.Select(r => r.Prompt!.Split(' ').Length));
        Assert.All(text, r => Assert.Equal(5, r.OutputTokens));
        Assert.Equal(2, TraceWorkload.Requests(trace, 2, seed: 1).Count);
    }

    [Fact]
    public void RowsWithoutTimesAreATraceOfLengthsOnly()
    {
        string path = Write("{\"input_len\": 4, \"output_len\": 2}", "{\"input_len\": 5, \"output_len\": 6, \"arrival_time\": null}");
        var trace = TraceWorkload.Read(path);
        Assert.False(trace.HasArrivalTimes);
        Assert.True(double.IsNaN(trace.NativeRate));
        Assert.Throws<InvalidOperationException>(() => trace.ArrivalTimesAt(1));

        var one = TraceWorkload.Read(Write("{\"input_len\": 4, \"output_len\": 2, \"arrival_time\": 3}"));
        Assert.True(double.IsPositiveInfinity(one.NativeRate));
        Assert.Equal([0.0], one.ArrivalTimesAt(5));
    }

    [Theory]
    [InlineData(2, "not JSON", "{\"input_len\": 4, \"output_len\": 2}", "{oops")]
    [InlineData(2, "missing \"output_len\"", "{\"input_len\": 4, \"output_len\": 2}", "{\"input_len\": 4}")]
    [InlineData(1, "\"input_len\" must be a positive integer", "{\"input_len\": 0, \"output_len\": 2}")]
    [InlineData(1, "\"input_len\" must be a positive integer", "{\"input_len\": \"12\", \"output_len\": 2}")]
    [InlineData(1, "\"output_len\" must be a positive integer", "{\"input_len\": 3, \"output_len\": 2.5}")]
    [InlineData(1, "must be a number of seconds", "{\"input_len\": 3, \"output_len\": 2, \"arrival_time\": \"soon\"}")]
    [InlineData(1, "not both", "{\"input_len\": 3, \"output_len\": 2, \"arrival_time\": 1, \"timestamp\": 1}")]
    [InlineData(3, "earlier than the row before", "{\"input_len\": 3, \"output_len\": 2, \"arrival_time\": 0}", "{\"input_len\": 3, \"output_len\": 2, \"arrival_time\": 2}", "{\"input_len\": 3, \"output_len\": 2, \"arrival_time\": 1}")]
    [InlineData(2, "either every row has an arrival time", "{\"input_len\": 3, \"output_len\": 2, \"arrival_time\": 0}", "{\"input_len\": 3, \"output_len\": 2}")]
    [InlineData(1, "expected {", "[1, 2]")]
    public void MalformedRowsNameTheFileAndLine(int line, string message, params string[] rows)
    {
        string path = Write(rows);
        var e = Assert.Throws<ArgumentException>(() => TraceWorkload.Read(path));
        Assert.StartsWith($"{path}:{line}: ", e.Message);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void ContextCapAndDatasetDetection()
    {
        string path = Write("{\"input_len\": 4, \"output_len\": 2}", "{\"input_len\": 50, \"output_len\": 20}");
        var e = Assert.Throws<ArgumentException>(() => TraceWorkload.Requests(TraceWorkload.Read(path), 10, 0, maxModelLength: 64));
        Assert.StartsWith($"{path}:2: ", e.Message);
        Assert.False(TraceWorkload.IsTrace(Write("{\"prompt\": \"hi\", \"output_len\": 3}")));
        Assert.False(TraceWorkload.IsTrace(Write("[{\"input_len\": 4}]")));

        // Given as --dataset, a trace is recognised and replayed as one.
        var options = new ServeBenchmarkOptions { BaseUrl = new Uri("http://127.0.0.1:9"), Dataset = path, PromptFormat = PromptFormat.TokenIds };
        var prepared = ServeBenchmark.PrepareWorkload(options);
        Assert.NotNull(prepared.Trace);
        Assert.Equal([4, 50], prepared.Requests.Select(r => r.PromptTokenIds!.Length));
    }
}
