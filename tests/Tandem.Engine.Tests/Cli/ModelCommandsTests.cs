using System.Diagnostics;
using LLama;
using LLama.Common;
using LLama.Native;
using Tandem.Cli;

namespace Tandem.Engine.Tests.Cli;

/// <summary>The real <c>tandem</c> command line on real files, checked against llama.cpp where it loads what we wrote.</summary>
public sealed class ModelCommandsTests
{
    private static string Stories => TestPaths.Model("stories260K.gguf");

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = TandemApp.Run(args, new CliConsole(o, e));
        return (code, o.ToString(), e.ToString());
    }

    private static void AssertOneErrorLine(int code, string err, string expectedPart)
    {
        Assert.Equal(1, code);
        var lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("error: ", lines[0]);
        Assert.Contains(expectedPart, lines[0]);
    }

    [Theory]
    [InlineData("tiny-llama-gqa", "llama")]
    [InlineData("tiny-qwen2", "qwen2")]
    public void Synthesized_f32_model_is_described_by_info_and_runs_in_llama_cpp(string preset, string arch)
    {
        string path = Path.Combine(TestPaths.NewTempDir(), $"{preset}.gguf");
        var synth = Run("model", "synth", "--preset", preset, "--type", "f32", "--vocab-from", Stories, "-o", path, "--seed", "3");
        Assert.True(synth.Code == 0, synth.Err);
        Assert.Contains("fallbacks:  none", synth.Out);
        Assert.Contains("100%", synth.Err);
        Assert.True(File.Exists(path));

        var info = Run("model", "info", path, "--tensors");
        Assert.True(info.Code == 0, info.Err);
        Assert.Contains($"architecture:   {arch}", info.Out);
        Assert.Contains("GGUF version:   3", info.Out);
        Assert.Contains("vocab size:           512", info.Out);
        Assert.Contains("tokenizer:      model llama", info.Out);
        Assert.Contains("bos 1, eos 2", info.Out);
        Assert.Contains("blk.1.ffn_down.weight", info.Out);
        if (arch == "qwen2") Assert.Contains("blk.0.attn_q.bias", info.Out);

        float[] logits = LlamaCppLastLogits(path, [1, 403, 407, 261, 378]);
        Assert.Equal(512, logits.Length);
        Assert.All(logits, x => Assert.True(float.IsFinite(x)));
        // Random weights still give a distribution that is neither flat nor degenerate.
        Assert.InRange(logits.Max() - logits.Min(), 1e-3f, 100f);
    }

    [Theory]
    [InlineData("tiny-llama-gqa", "f16", "")]
    [InlineData("tiny-llama-gqa", "bf16", "")]
    [InlineData("tiny-llama-gqa", "q4_0", "")]
    [InlineData("tiny-llama-gqa", "q4_1", "")]
    [InlineData("tiny-llama-gqa", "q5_0", "")]
    [InlineData("tiny-llama-gqa", "q5_1", "")]
    [InlineData("tiny-llama-gqa", "q8_0", "")]
    [InlineData("tiny-llama-gqa", "q4_k", "")]
    [InlineData("tiny-llama-gqa", "q5_k", "")]
    [InlineData("tiny-llama-gqa", "q6_k", "")]
    [InlineData("tiny-qwen2", "q4_k", "Q4_K -> Q5_0")]
    [InlineData("tiny-qwen2", "q5_k", "Q5_K -> Q5_1")]
    [InlineData("tiny-qwen2", "q6_k", "Q6_K -> Q8_0")]
    public void Synthesized_quantized_model_runs_in_llama_cpp(string preset, string type, string fallback)
    {
        string path = Path.Combine(TestPaths.NewTempDir(), $"{preset}-{type}.gguf");
        var synth = Run("model", "synth", "-p", preset, "-t", type, "--vocab-from", Stories, "-o", path);
        Assert.True(synth.Code == 0, synth.Err);
        if (fallback.Length == 0) Assert.Contains("fallbacks:  none", synth.Out);
        else Assert.Contains($"token_embd.weight [128, 512]: {fallback}", synth.Out);

        float[] logits = LlamaCppLastLogits(path, [1, 403, 407, 261, 378]);
        Assert.All(logits, x => Assert.True(float.IsFinite(x)));
        Assert.InRange(logits.Max() - logits.Min(), 1e-3f, 100f);
    }

    /// <summary>Loads a model in llama.cpp (CPU), evaluates a prompt in one batch and returns the last position's logits.</summary>
    private static float[] LlamaCppLastLogits(string path, int[] tokens)
    {
        var p = new ModelParams(path) { ContextSize = 64, GpuLayerCount = 0, BatchSize = 64, Threads = 2 };
        using var weights = LLamaWeights.LoadFromFile(p);
        using var context = weights.CreateContext(p);
        var batch = new LLamaBatch();
        for (int i = 0; i < tokens.Length; i++) batch.Add(tokens[i], i, LLamaSeqId.Zero, i == tokens.Length - 1);
        Assert.Equal(DecodeResult.Ok, context.NativeHandle.Decode(batch));
        return context.NativeHandle.GetLogitsIth(tokens.Length - 1).ToArray();
    }

    [Fact]
    public void Info_on_a_real_quantized_model()
    {
        var (code, o, err) = Run("model", "info", TestPaths.Model("tinyllama-v0-q4_0.gguf"));
        Assert.True(code == 0, err);
        Assert.Contains("file type:      Q4_0 (2)", o);
        Assert.Contains("tensors:        75 (F32: 17, Q4_0: 58)", o);
        Assert.Contains("layers:               8", o);
        Assert.Contains("32000 tokens", o);
    }

    [Fact]
    public void Info_on_a_vocabulary_only_file_says_what_is_missing()
    {
        var (code, o, err) = Run("model", "info", TestPaths.Vocab("ggml-vocab-gpt-2.gguf"));
        Assert.True(code == 0, err);
        Assert.Contains("hyperparameters: unavailable", o);
        Assert.Contains("tokenizer:      model gpt2, pre gpt-2", o);
    }

    [Fact]
    public void Missing_file_is_one_error_line()
    {
        string path = Path.Combine(TestPaths.NewTempDir(), "absent.gguf");
        var (code, _, err) = Run("model", "info", path);
        AssertOneErrorLine(code, err, path);
    }

    [Fact]
    public void Not_a_gguf_file_is_one_error_line()
    {
        var (code, _, err) = Run("model", "info", Path.Combine(TestPaths.SharedModels, "README.md"));
        AssertOneErrorLine(code, err, "not a GGUF file");
    }

    [Fact]
    public void Unknown_preset_is_one_error_line_listing_the_presets()
    {
        string path = Path.Combine(TestPaths.NewTempDir(), "x.gguf");
        var (code, _, err) = Run("model", "synth", "--preset", "gpt-5", "--type", "f32", "--vocab-from", Stories, "-o", path);
        AssertOneErrorLine(code, err, "unknown preset 'gpt-5'");
        Assert.Contains("smollm-135m", err);
        Assert.False(File.Exists(path));
    }

    [Theory]
    [InlineData("q3_k")]
    [InlineData("banana")]
    public void Unknown_or_unsupported_type_is_one_error_line(string type)
    {
        string path = Path.Combine(TestPaths.NewTempDir(), "x.gguf");
        var (code, _, err) = Run("model", "synth", "--preset", "tiny-qwen2", "--type", type, "--vocab-from", Stories, "-o", path);
        AssertOneErrorLine(code, err, $"'{type}'");
        Assert.False(File.Exists(path));
    }

    [Fact]
    public void Missing_vocabulary_file_is_one_error_line()
    {
        string dir = TestPaths.NewTempDir();
        var (code, _, err) = Run("model", "synth", "-p", "tiny-qwen2", "-t", "f32", "--vocab-from", Path.Combine(dir, "none.gguf"), "-o", Path.Combine(dir, "x.gguf"));
        AssertOneErrorLine(code, err, "none.gguf");
        Assert.Empty(Directory.GetFileSystemEntries(dir));
    }

    [Fact]
    public void Missing_required_option_and_invalid_number_are_one_error_line()
    {
        var missing = Run("model", "synth", "--preset", "tiny-qwen2", "--type", "f32", "-o", "x.gguf");
        AssertOneErrorLine(missing.Code, missing.Err, "--vocab-from");
        var invalid = Run("model", "synth", "-p", "tiny-qwen2", "-t", "f32", "--vocab-from", Stories, "-o", "x.gguf", "--layers", "many");
        AssertOneErrorLine(invalid.Code, invalid.Err, "many");
        var negative = Run("model", "synth", "-p", "tiny-qwen2", "-t", "f32", "--vocab-from", Stories, "-o", Path.Combine(TestPaths.NewTempDir(), "x.gguf"), "--layers", "0");
        AssertOneErrorLine(negative.Code, negative.Err, "layer count");
    }

    [Fact]
    public void The_tandem_executable_reports_errors_with_exit_code_1_and_no_stack_trace()
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "tandem.dll");
        Assert.True(File.Exists(dll), $"{dll} is not beside the tests");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in new[] { dll, "model", "info", Path.Combine(TestPaths.SharedModels, "README.md") }) psi.ArgumentList.Add(a);
        using var process = Process.Start(psi)!;
        string stdout = process.StandardOutput.ReadToEnd();
        string stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();

        Assert.Equal(1, process.ExitCode);
        Assert.Equal("", stdout);
        Assert.StartsWith("error: ", stderr);
        Assert.Contains("not a GGUF file", stderr);
        Assert.DoesNotContain("   at ", stderr);
    }
}
