using System.Runtime.Intrinsics;
using Tandem.Engine.Kernels;

namespace Tandem.Engine.Tests.Kernels;

/// <summary>
/// RMSNorm's sum of squares groups its double additions in four lanes (lane k: the squares of elements 8b + k and
/// 8b + 4 + k added, then into the lane, block by block), whatever vectors carry them: 256-bit ones with AVX2,
/// two 128-bit halves without (<see cref="InstructionSetRunsTests"/> runs this class with <c>DOTNET_EnableAVX2=0</c>).
/// </summary>
public class RmsNormTests
{
    [Theory]
    [InlineData(7)]
    [InlineData(64)]
    [InlineData(576)]
    [InlineData(2053)]
    [InlineData(4096)]
    [InlineData(16389)]
    [InlineData(65536)]
    public void Sum_of_squares_keeps_its_four_lanes_on_every_path(int n)
    {
        var rng = new Random(n);
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float)((rng.NextDouble() - 0.5) * Math.Pow(10, rng.Next(-3, 4)));

        var lanes = new double[4];
        int blocks = n / 8;
        for (int b = 0; b < blocks; b++)
            for (int k = 0; k < 4; k++)
                lanes[k] += (double)(x[8 * b + k] * x[8 * b + k]) + (double)(x[8 * b + 4 + k] * x[8 * b + 4 + k]);
        double want = Vector256.Sum(Vector256.Create(lanes));
        for (int i = 8 * blocks; i < n; i++) want += (double)(x[i] * x[i]);

        Assert.Equal(BitConverter.DoubleToInt64Bits(want), BitConverter.DoubleToInt64Bits(RmsNorm.SumOfSquares(x)));
    }
}
