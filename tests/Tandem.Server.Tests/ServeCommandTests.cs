using Tandem.Cli;

namespace Tandem.Server.Tests;

/// <summary><c>tandem serve</c> refuses bad options with one <c>error:</c> line and exit code 1, before serving anything.</summary>
public sealed class ServeCommandTests
{
    [Theory]
    [InlineData("--kv-memory 12XB", "--kv-memory must be a size")]
    [InlineData("--kv-memory 0MiB", "--kv-memory must be a size")]
    [InlineData("--chat-template no-such-template", "unknown chat template 'no-such-template'")]
    [InlineData("--mode fast", "'fast'")]
    [InlineData("--kv-type q8", "'q8'")]
    [InlineData("--cores 0-1;x", "--cores: 'x'")]
    [InlineData("--port 70000", "--port must be between 0 and 65535")]
    [InlineData("--shutdown-timeout -1", "--shutdown-timeout must be between 0 and 86400 seconds")]
    [InlineData("--prefill-instances 0", "PrefillInstances must be at least 1")]
    [InlineData("--mode colocated --cores 0;1", "InstanceCores lists 2 core sets")]
    [InlineData("--role bogus", "'bogus'")]
    [InlineData("--role prefill", "--role prefill needs the cluster's shared secret: --cluster-token or $TANDEM_CLUSTER_TOKEN")]
    [InlineData("--prefill-workers 127.0.0.1:8001", "--prefill-workers / --decode-workers go with --role frontend")]
    [InlineData("--role frontend --cluster-token t --frontend http://127.0.0.1:8000", "--frontend goes with --role prefill or --role decode")]
    [InlineData("--role decode --cluster-token t --mode colocated", "--mode colocated goes with --role all")]
    [InlineData("--role frontend --cluster-token t --decode-workers not:a:port", "'not:a:port' is not a host:port")]
    [InlineData("--role prefill --cluster-token t --kv-lease 0", "--kv-lease must be between 0 and 86400 seconds")]
    [InlineData("--role frontend --cluster-token t --worker-timeout -2", "--worker-timeout must be between")]
    [InlineData("--role prefill --cluster-token t --kv-transport shm", "--kv-transport goes with --role decode")]
    [InlineData("--role decode --cluster-token t --kv-transport tcp", "'tcp'")]
    [InlineData("--role prefill --cluster-token t --kv-overlap", "--kv-overlap goes with --role frontend")]
    [InlineData("--api-key-file /no/such/keys.txt", "--api-key-file: cannot read '/no/such/keys.txt'")]
    [InlineData("--max-waiting-requests 0", "--max-waiting-requests must be at least 1")]
    [InlineData("--slo-ttft -1", "--slo-ttft must be between 0 and 86400 seconds")]
    [InlineData("--request-timeout 0", "--request-timeout must be between 0 and 86400 seconds")]
    [InlineData("--profile p.json", "--profile is for --slo-ttft's estimate")]
    [InlineData("--slo-ttft 1 --profile /no/such/profile.json", "--slo-ttft: cannot read the latency profile /no/such/profile.json")]
    [InlineData("--log-level verbose", "'verbose'")]
    [InlineData("--log-format xml", "'xml'")]
    [InlineData("--log-stats-interval -1", "--log-stats-interval must be between 0 and 86400 seconds")]
    [InlineData("--otlp-endpoint localhost:4317", "--otlp-endpoint must be an http:// or https:// URL")]
    [InlineData("--kv-disk-size 1GiB", "--kv-disk-size needs --kv-disk-dir")]
    [InlineData("--kv-disk-policy always", "--kv-disk-policy needs --kv-disk-dir")]
    [InlineData("--kv-disk-dir /tmp/tandem-tests/kv-never-made --no-prefix-caching", "drop --no-prefix-caching")]
    [InlineData("--kv-disk-dir /tmp/tandem-tests/kv-never-made --kv-disk-size 1000", "KV disk size 0.98 KiB is below one block of 16 tokens")]
    [InlineData("--kv-disk-dir /tmp/tandem-tests/kv-never-made --kv-disk-policy sometimes", "'sometimes'")]
    [InlineData("--role frontend --cluster-token t --kv-disk-dir /tmp/tandem-tests/kv-never-made", "--kv-disk-dir goes to the workers")]
    [InlineData("--role decode --cluster-token t --local-prefill-threshold 32 --prefill-busy-tokens 100", "--prefill-busy-tokens is the frontend's")]
    [InlineData("--role frontend --cluster-token t --prefill-busy-tokens 100", "--prefill-busy-tokens sends prompts to decode workers: give --local-prefill-threshold too")]
    [InlineData("--plan /no/such/plan.json --local-prefill-threshold 32", "--plan sets the placement: drop --local-prefill-threshold")]
    [InlineData("--local-prefill-threshold -1", "LocalPrefillThreshold must be 0 or more")]
    [InlineData("--local-prefill-threshold 0 --prefill-busy-tokens 100", "PrefillBusyTokens sends prompts to decode instances, which needs LocalPrefillThreshold above 0")]
    [InlineData("--weights swap", "'swap'")]
    [InlineData("--prio 4", "--prio must be -1 (low), 0 (normal), 1 (medium), 2 (high) or 3 (realtime), got 4")]
    [InlineData("--prio -2", "--prio must be -1 (low), 0 (normal), 1 (medium), 2 (high) or 3 (realtime), got -2")]
    [InlineData("--step-log /no/such/dir/steps.jsonl", "--step-log: the directory /no/such/dir does not exist")]
    [InlineData("--step-log /tmp", "--step-log: /tmp is a directory; give a file name")]
    [InlineData("--step-log /proc/self/steps.jsonl", "--step-log: cannot write /proc/self/steps.jsonl:")]
    [InlineData("--role prefill --cluster-token t --step-log /tmp/tandem-tests/steps-never-made.jsonl", "--step-log records the instances of one process: use it with --role all")]
    public void Bad_options_fail_with_one_error_line(string arguments, string expected)
    {
        var (code, output, error) = Run(["serve", "--model", TestRuntimes.ModelPath, .. arguments.Split(' ')]);
        Assert.Equal(1, code);
        Assert.StartsWith("error: ", error);
        Assert.Contains(expected, error);
        Assert.Equal("", output);
    }

    [Fact]
    public void Missing_model_file_is_an_error()
    {
        var (code, _, error) = Run(["serve", "--model", "/no/such/model.gguf"]);
        Assert.Equal(1, code);
        Assert.Contains("model.gguf", error);
    }

    private static (int Code, string Out, string Error) Run(string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = TandemApp.Run(args, new CliConsole(output, error));
        return (code, output.ToString(), error.ToString());
    }
}
