namespace Tandem.Server.Tests;

/// <summary>
/// The prefill and the decode worker in two network namespaces joined by a veth pair (the frontend beside the prefill
/// worker), so every KV pull crosses a real network interface instead of loopback: the output is still exactly what
/// one process streams, and the decode side's interface counted at least the KV bytes moved. Skipped, with the
/// reason, where namespaces cannot be created (not Linux, not root).
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ClusterNamespaceTests
{
    private const int Requests = 32;
    private static readonly TimeSpan DrainLimit = TimeSpan.FromSeconds(20);

    private static readonly TimeSpan RunLimit = TimeSpan.FromMinutes(3);

    [SkippableFact]
    public async Task KV_pulled_across_a_veth_between_two_network_namespaces_streams_what_one_process_streams()
    {
        using var net = VethNamespaces.TryCreate(out string whyNot);
        Skip.If(net == null, whyNot);
        var expected = await ClusterTests.ReferenceOutputAsync();
        int cores = Environment.ProcessorCount;
        string[] worker = ["--cluster-token", LocalCluster.Token];
        using var prefill = await ServeProcess.StartInNamespaceAsync(net.Prefill, [.. worker, "--role", "prefill", "--cores", "0", "--host", net.PrefillAddress]);
        using var decode = await ServeProcess.StartInNamespaceAsync(net.Decode, [.. worker, "--role", "decode", "--cores", (1 % cores).ToString(), "--host", net.DecodeAddress]);
        using var frontend = await ServeProcess.StartInNamespaceAsync(net.Prefill, "--role", "frontend", "--cluster-token", LocalCluster.Token,
            "--host", net.FrontendAddress, "--prefill-workers", LocalCluster.HostPort(prefill), "--decode-workers", LocalCluster.HostPort(decode));
        using var http = new HttpClient { BaseAddress = frontend.Address, Timeout = TimeSpan.FromMinutes(2) };
        long receivedBefore = net.ReceivedBytes(net.Decode, net.DecodeVeth);
        await LocalCluster.WaitReadyAsync(http, frontend);

        // Bounded: a stream that stops is a failure that says where things stood, not a test run that hangs.
        var run = ClusterWorkload.RunAllAsync(http, Requests);
        if (await Task.WhenAny(run, Task.Delay(RunLimit)) != run)
            Assert.Fail($"the {Requests} requests did not finish within {RunLimit.TotalMinutes} min.\n" +
                $"frontend /health: {await DescribeAsync(http, "/health")}\nfrontend stderr: {frontend.Stderr}\n" +
                $"prefill /health: {await DescribeAsync(http, new Uri(prefill.Address, "/health"))}\nprefill stderr: {prefill.Stderr}\n" +
                $"decode /health: {await DescribeAsync(http, new Uri(decode.Address, "/health"))}\ndecode stderr: {decode.Stderr}");
        var actual = await run;

        for (int i = 0; i < Requests; i++)
            Assert.True(expected[i] == actual[i], $"request {i}: expected {expected[i]}, the cluster across namespaces streamed {actual[i]}");
        double kvBytes = await LocalCluster.MetricAsync(http, "tandem:kv_transfer_bytes_total");
        long received = net.ReceivedBytes(net.Decode, net.DecodeVeth) - receivedBefore;
        Assert.True(kvBytes > 0, "no KV was transferred");
        Assert.True(received >= kvBytes, $"the decode namespace's veth received {received} bytes, less than the {kvBytes} bytes of KV pulled");
        foreach (var w in new[] { prefill, decode })
            await LocalCluster.AssertPoolEmptyAsync(w, DrainLimit);
    }

    /// <summary>A GET's status and body for a failure message, or why there was none (bounded by a short timeout).</summary>
    private static async Task<string> DescribeAsync(HttpClient http, string path) => await DescribeAsync(http, new Uri(http.BaseAddress!, path));

    private static async Task<string> DescribeAsync(HttpClient http, Uri url)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            using var r = await http.GetAsync(url, cts.Token);
            return $"{(int)r.StatusCode} {await r.Content.ReadAsStringAsync(cts.Token)}";
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException)
        {
            return $"no answer ({e.Message})";
        }
    }
}
