using Tandem.Engine.Gguf;
using Tandem.Engine.Model;
using Xunit;

namespace Tandem.Engine.Tests.Gguf;

/// <summary>
/// Weights copied into huge-page memory (<see cref="WeightPlacement.HugePages"/>) against the same file read in place
/// (<see cref="WeightPlacement.Mapped"/>): the same bytes at the same offsets, so the same logits bit for bit.
/// </summary>
public unsafe class WeightPlacementTests
{
    [SkippableTheory]
    [InlineData("tinyllama-v0-q4_0.gguf")]
    [InlineData("llama2-tiny-random-f16.gguf")]
    public void Huge_pages_hold_every_tensor_byte_for_byte_and_give_the_same_logits(string file)
    {
        Skip.IfNot(HugePageMemory.Available, $"transparent huge pages are off here ({HugePageMemory.SettingPath}): only the mapped placement runs");
        using var mapped = LanguageModel.Load(TestPaths.Model(file), WeightPlacement.Mapped);
        using var huge = LanguageModel.Load(TestPaths.Model(file), WeightPlacement.HugePages);
        Assert.Equal(WeightPlacement.Mapped, mapped.File.Placement);
        Assert.Equal(WeightPlacement.HugePages, huge.File.Placement);
        Assert.True(huge.File.HugePagesAdvised, "madvise(MADV_HUGEPAGE) was refused on a machine whose setting allows it");

        // The copy starts on a huge-page boundary, and every tensor keeps its offset from the data section's start.
        var first = huge.File.Tensors[0];
        Assert.Equal(0ul, (ulong)(first.Data - (long)first.Offset) % (ulong)HugePageMemory.HugePageBytes);
        Assert.Equal(mapped.File.Tensors.Count, huge.File.Tensors.Count);
        for (int i = 0; i < mapped.File.Tensors.Count; i++)
        {
            var a = mapped.File.Tensors[i];
            var b = huge.File.Tensors[i];
            if (a.ByteSize < 0) continue;
            Assert.True(a.Data != b.Data, $"{a.Name}: the huge-page placement still points into the mapping");
            Assert.True(new ReadOnlySpan<byte>(a.Data, checked((int)a.ByteSize)).SequenceEqual(new ReadOnlySpan<byte>(b.Data, (int)b.ByteSize)),
                $"{a.Name}: its bytes differ between the mapping and the huge-page copy");
        }

        int[] prompt = [1, 4612, 2619, 260, 647];
        Assert.Equal(Logits(mapped, prompt), Logits(huge, prompt));
    }

    [Fact]
    public void Mapped_placement_reads_the_file_in_place()
    {
        using var model = LanguageModel.Load(TestPaths.Model("stories260K.gguf"), WeightPlacement.Mapped);
        Assert.Equal(WeightPlacement.Mapped, model.File.Placement);
        Assert.False(model.File.HugePagesAdvised);
    }

    [Fact]
    public void Auto_places_the_weights_in_huge_pages_exactly_where_the_kernel_offers_them()
    {
        using var model = LanguageModel.Load(TestPaths.Model("stories260K.gguf"));
        Assert.Equal(HugePageMemory.Available ? WeightPlacement.HugePages : WeightPlacement.Mapped, model.File.Placement);
    }

    [Fact]
    public void Asking_for_huge_pages_where_they_are_off_is_an_error_that_names_the_setting()
    {
        var e = Assert.Throws<InvalidOperationException>(() => GgufFile.ResolvePlacement(WeightPlacement.HugePages, hugePagesAvailable: false, hasData: true));
        Assert.Contains(HugePageMemory.SettingPath, e.Message);
        Assert.Contains("mapped", e.Message);
    }

    [Theory]
    [InlineData(WeightPlacement.Auto, true, true, WeightPlacement.HugePages)]
    [InlineData(WeightPlacement.Auto, false, true, WeightPlacement.Mapped)]
    [InlineData(WeightPlacement.Auto, true, false, WeightPlacement.Mapped)]
    [InlineData(WeightPlacement.Mapped, true, true, WeightPlacement.Mapped)]
    [InlineData(WeightPlacement.HugePages, true, true, WeightPlacement.HugePages)]
    [InlineData(WeightPlacement.HugePages, true, false, WeightPlacement.Mapped)]
    public void The_placement_asked_for_resolves_by_what_the_kernel_offers(WeightPlacement asked, bool available, bool hasData, WeightPlacement expected) =>
        Assert.Equal(expected, GgufFile.ResolvePlacement(asked, available, hasData));

    [Theory]
    [InlineData("always [madvise] never\n", true)]
    [InlineData("[always] madvise never\n", true)]
    [InlineData("always madvise [never]\n", false)]
    [InlineData("", false)]
    [InlineData(null, false)]
    public void The_kernel_setting_is_read_by_its_bracketed_choice(string? setting, bool allows) =>
        Assert.Equal(allows, HugePageMemory.SettingAllows(setting));

    [Fact]
    public void A_huge_page_allocation_is_aligned_and_rounded_to_whole_huge_pages()
    {
        using var memory = new HugePageMemory(HugePageMemory.HugePageBytes + 1);
        Assert.Equal(2 * HugePageMemory.HugePageBytes, memory.Length);
        Assert.Equal(0ul, (ulong)memory.Pointer % (ulong)HugePageMemory.HugePageBytes);
        memory.Pointer[memory.Length - 1] = 7; // the whole rounded length is ours to write
        Assert.Equal(7, memory.Pointer[memory.Length - 1]);
    }

    private static float[] Logits(LanguageModel model, int[] prompt)
    {
        using var transformer = new Transformer(model, threads: 2, maxBatch: 16, maxContext: 64);
        using var cache = transformer.CreateCache(64);
        var logits = new float[model.Config.VocabSize];
        transformer.Forward(prompt, cache, logits);
        var all = new List<float>(logits);
        for (int i = 0; i < 4; i++)
        {
            transformer.Forward([Model.GoldenGreedyTests.ArgMax(logits)], cache, logits);
            all.AddRange(logits);
        }
        return [.. all];
    }
}
