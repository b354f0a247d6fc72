using System.Diagnostics;
using System.Runtime.Intrinsics;
using System.Xml.Linq;
using Tandem.Engine.Kernels;
using Tandem.Engine.Quantization;
using Xunit.Abstractions;

namespace Tandem.Engine.Tests.Kernels;

/// <summary>
/// The kernel, batch-invariance and llama.cpp-order tests again, in a child test run of this assembly with .NET's
/// wider instruction sets switched off, so that every run of the suite checks the paths the machine would not
/// take by itself: the AVX2 kernels (<c>DOTNET_EnableAVX512=0</c>, where the machine has AVX-512) and the portable
/// Vector128 kernels (<c>DOTNET_EnableAVX2=0</c>, where it has AVX2), each against the scalar or ggml-ordered
/// reference its tests name. The child's <see cref="Expected_instruction_set_is_in_effect"/> checks that the switch
/// took and that Auto picked the vector path, not a scalar one. A variant the machine's default run already covers
/// (no AVX-512 here, no AVX2 here: Arm64) is reported as skipped, with the reason.
/// </summary>
public class InstructionSetRunsTests(ITestOutputHelper output)
{
    /// <summary>Set in a child run to its variant (<c>avx2</c> or <c>vector128</c>).</summary>
    internal const string VariantVariable = "TANDEM_TEST_ISA_VARIANT";

    /// <summary>
    /// A child run that takes longer than this is killed and fails the test. Each takes 10-20 s on this project's
    /// 2-core machine at load average 15 (2026-12-03); the margin is for a CI run whose other test assemblies share
    /// the cores, while a hang still costs CI at most this per variant.
    /// </summary>
    private static readonly TimeSpan ChildTimeout = TimeSpan.FromMinutes(4);

    /// <summary>Lines of the child's console output quoted when it wrote no results (timeout, crash).</summary>
    private const int QuotedOutputLines = 40;

    private const string Ns = "Tandem.Engine.Tests.";

    /// <summary>
    /// Classes and tests the child runs: the matmul kernels against the single-pair dot and the scalar references,
    /// the dot kernels, attention's tiles and order, batch invariance on every kernel path, and the check of the switch.
    /// </summary>
    private static string[] ChildTests(string variant) =>
    [
        Ns + "Kernels.MatMulBatchTests", Ns + "Kernels.MatMulOneTokenTests", Ns + "Kernels.TransposedReduceTests",
        Ns + "Kernels.TransposedVectorSumTests", Ns + "Kernels.RmsNormTests",
        Ns + "Quantization.MultiRowDotTests", Ns + "Quantization.KQuantTests", Ns + "Quantization.LegacyQuantTests",
        Ns + "Quantization.LegacyActivationQuantTests",
        Ns + "Model.F16AttentionTests",
        Ns + "KvCache.BatchedForwardTests.Every_kernel_path_is_batch_invariant",
        Ns + "Kernels.InstructionSetRunsTests.Expected_instruction_set_is_in_effect",
        // Kernels that exist for ggml's AVX2 and AVX-512 orders only: without AVX2 these all skip, saying so.
        .. (variant == "avx2"
            ? new[] { Ns + "Quantization.GgmlFloatDotOracleTests", Ns + "Model.AttentionWeightedValuesTests", Ns + "Quantization.F16WidenedRowsTests" }
            : Array.Empty<string>()),
    ];

    [SkippableTheory]
    [InlineData("avx2")]
    [InlineData("vector128")]
    public void Kernel_tests_pass_with_wider_instruction_sets_switched_off(string variant)
    {
        Skip.If(Environment.GetEnvironmentVariable(VariantVariable) is not null, "a child run does not start another");
        var (variable, wider, covered) = variant == "avx2"
            ? ("DOTNET_EnableAVX512", "AVX-512", !Vector512.IsHardwareAccelerated)
            : ("DOTNET_EnableAVX2", "AVX2", !Vector256.IsHardwareAccelerated);
        Skip.If(covered, $"{variable}=0 would change nothing: this run has no {wider} to switch off, so its own tests already took the narrower paths");
        string dotnet = DotnetHost();

        string results = TestPaths.NewTempDir();
        var start = new ProcessStartInfo(dotnet)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = results,
        };
        foreach (string arg in new[]
                 {
                     "test", typeof(InstructionSetRunsTests).Assembly.Location,
                     "--filter", string.Join('|', ChildTests(variant).Select(t => "FullyQualifiedName~" + t)),
                     "--results-directory", results, "--logger", "trx;LogFileName=child.trx",
                     // Each finished test in the output, so that a run killed at the timeout shows how far it got.
                     "--logger", "console;verbosity=normal",
                 })
            start.ArgumentList.Add(arg);
        start.Environment[variable] = "0";
        start.Environment[VariantVariable] = variant;

        var clock = Stopwatch.StartNew();
        using var child = Process.Start(start) ?? throw new InvalidOperationException($"could not start {dotnet}");
        var stdout = child.StandardOutput.ReadToEndAsync();
        var stderr = child.StandardError.ReadToEndAsync();
        if (!child.WaitForExit(ChildTimeout))
        {
            child.Kill(entireProcessTree: true);
            child.WaitForExit();
            Directory.Delete(results, recursive: true);
            Assert.Fail($"the {variant} child run ({variable}=0) did not finish within {ChildTimeout.TotalMinutes} minutes and was killed; "
                + $"the end of its output:\n{Quoted(stdout.Result + stderr.Result)}");
        }
        string trx = Path.Combine(results, "child.trx");
        Assert.True(File.Exists(trx),
            $"the {variant} child run ({variable}=0) wrote no results (exit code {child.ExitCode}); the end of its output:\n{Quoted(stdout.Result + stderr.Result)}");
        var outcomes = ReadOutcomes(trx);
        int passed = outcomes.Count(o => o.Outcome == "Passed");
        var failed = outcomes.Where(o => o.Outcome == "Failed").ToList();
        int skipped = outcomes.Count(o => o.Outcome == "NotExecuted");
        output.WriteLine($"{variable}=0: {passed} passed, {failed.Count} failed, {skipped} skipped in {clock.Elapsed.TotalSeconds:F0} s");
        Assert.True(failed.Count == 0 && child.ExitCode == 0,
            $"{variable}=0: {failed.Count} of the child run's tests failed (exit code {child.ExitCode}; results in {trx}):\n"
            + string.Join('\n', failed.Take(10).Select(f => $"  {f.Name}: {Indented(f.Message)}")));
        Assert.Contains(outcomes, o => o.Name.Contains(nameof(Expected_instruction_set_is_in_effect)) && o.Outcome == "Passed");
        // Every listed class contributed (a renamed class would otherwise drop out of the filter silently).
        foreach (string test in ChildTests(variant))
            Assert.True(outcomes.Any(o => o.FullName.StartsWith(test, StringComparison.Ordinal) && o.Outcome == "Passed"),
                $"{variable}=0: no test of {test} passed in the child run");
        Directory.Delete(results, recursive: true);
    }

    /// <summary>
    /// The last lines of a child's console output, each indented: a child's own summary line ("Failed!  - Failed: ...")
    /// must not start a line of this run's output, where .ci/run would add its counts to the suite's.
    /// </summary>
    private static string Quoted(string text)
    {
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        return string.Join('\n', lines.Skip(Math.Max(0, lines.Length - QuotedOutputLines)).Select(l => "    | " + l.TrimEnd('\r')));
    }

    /// <summary>A multi-line failure message with its continuation lines indented (see <see cref="Quoted"/>).</summary>
    private static string Indented(string message) => message.Replace("\n", "\n    ");

    /// <summary>In a child run: the switch took, and the kernels chose the vector path of that instruction set.</summary>
    [SkippableFact]
    public void Expected_instruction_set_is_in_effect()
    {
        string? variant = Environment.GetEnvironmentVariable(VariantVariable);
        Skip.If(variant is null, $"checks a child run of {nameof(Kernel_tests_pass_with_wider_instruction_sets_switched_off)} only");
        if (variant == "avx2")
        {
            Assert.False(Vector512.IsHardwareAccelerated);
            Assert.Equal(8, GgmlSimd.Width);
            Assert.Contains(LegacyTiledMatMul.Resolve(MatMulKernelPath.Auto), new[] { MatMulKernelPath.Avx2, MatMulKernelPath.Avx2Vnni });
        }
        else
        {
            Assert.Equal("vector128", variant);
            Assert.False(Vector256.IsHardwareAccelerated);
            Assert.True(Vector128.IsHardwareAccelerated);
            Assert.Equal(0, GgmlSimd.Width);
            Assert.Equal(MatMulKernelPath.Portable, LegacyTiledMatMul.Resolve(MatMulKernelPath.Auto));
            Assert.True(RowF16.SumsInOrder);
            Assert.True(F16TiledMatMul.IsSupported, "F16 matmuls would run on the scalar four-token dot");
            Assert.True(KQuantPortableDot.IsSupported, "K-quant dots would run on the scalar generic kernel");
        }
        using var team = new ThreadTeam(1);
        Assert.Equal(LegacyTiledMatMul.Resolve(MatMulKernelPath.Auto), new MatMul(team, 4, 64).KernelPath);
    }

    /// <summary>The dotnet host running these tests (the SDK names it in DOTNET_HOST_PATH), else the one on PATH.</summary>
    private static string DotnetHost()
    {
        string? host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (host is not null && File.Exists(host)) return host;
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator))
        {
            string candidate = Path.Combine(dir, OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet");
            if (File.Exists(candidate)) return candidate;
        }
        Skip.If(true, "no dotnet host found (DOTNET_HOST_PATH unset, none on PATH) to start the child test run");
        return "";
    }

    private sealed record ChildResult(string Name, string FullName, string Outcome, string Message);

    /// <summary>Each test result of a TRX file: display name, class-qualified name, outcome, failure message.</summary>
    private static List<ChildResult> ReadOutcomes(string trx)
    {
        var doc = XDocument.Load(trx);
        XNamespace ns = doc.Root!.Name.Namespace;
        var classes = doc.Descendants(ns + "UnitTest").ToDictionary(
            t => (string)t.Attribute("id")!,
            t => t.Element(ns + "TestMethod") is { } m ? $"{(string?)m.Attribute("className")}.{(string?)m.Attribute("name")}" : "");
        return doc.Descendants(ns + "UnitTestResult")
            .Select(r => new ChildResult((string)r.Attribute("testName")!,
                classes.GetValueOrDefault((string)r.Attribute("testId")!, ""), (string)r.Attribute("outcome")!,
                (string?)r.Descendants(ns + "Message").FirstOrDefault() ?? ""))
            .ToList();
    }
}
