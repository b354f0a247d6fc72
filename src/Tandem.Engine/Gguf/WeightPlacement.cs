namespace Tandem.Engine.Gguf;

/// <summary>Where a model's tensor data lives while it runs (<see cref="GgufFile.Open(string, WeightPlacement)"/>).</summary>
public enum WeightPlacement
{
    /// <summary>
    /// <see cref="HugePages"/> on Linux with transparent huge pages enabled (not <c>[never]</c>), else <see cref="Mapped"/>.
    /// </summary>
    Auto,

    /// <summary>
    /// Read in place from the file mapping: nothing is copied, loading is instant and processes on one host share the
    /// page cache, but the kernel backs the mapping with 4 KB pages.
    /// </summary>
    Mapped,

    /// <summary>
    /// Copied at load into anonymous memory the kernel is asked to back with 2 MB transparent huge pages, and the file
    /// closed. Each process holds its own copy. Why: the kernels stream every weight each step, and on 4 KB pages each
    /// 4 KB of a row is a TLB miss and a point where the hardware prefetcher stops; at TinyLlama's shape (2048-column
    /// F16 rows: one page per row) batched decode ran 1.15-1.24x faster from huge pages (docs/performance.md).
    /// </summary>
    HugePages,
}

/// <summary>The names users give a <see cref="WeightPlacement"/> (<c>--weights</c> of the CLI and the bench, the bench's JSON).</summary>
public static class WeightPlacementNames
{
    public static readonly string[] All = ["auto", "mapped", "huge-pages"];

    /// <summary>The placement <paramref name="name"/> names; null for a name that is none of <see cref="All"/>.</summary>
    public static WeightPlacement? Parse(string? name) => name switch
    {
        "auto" => WeightPlacement.Auto,
        "mapped" => WeightPlacement.Mapped,
        "huge-pages" => WeightPlacement.HugePages,
        _ => null,
    };

    public static string Name(WeightPlacement placement) => placement switch
    {
        WeightPlacement.Mapped => "mapped",
        WeightPlacement.HugePages => "huge-pages",
        _ => "auto",
    };
}
