namespace Tandem.Engine.Quantization;

/// <summary>
/// How many token columns (tokens or token pairs) a tiled kernel keeps in registers, as a type so that the JIT
/// compiles one specialised kernel per count and drops the accumulators a count does not use.
/// </summary>
internal interface ITileCount
{
    static abstract int Count { get; }
}

internal readonly struct Count1 : ITileCount { public static int Count => 1; }
internal readonly struct Count2 : ITileCount { public static int Count => 2; }
internal readonly struct Count3 : ITileCount { public static int Count => 3; }
internal readonly struct Count4 : ITileCount { public static int Count => 4; }
internal readonly struct Count5 : ITileCount { public static int Count => 5; }
internal readonly struct Count6 : ITileCount { public static int Count => 6; }
