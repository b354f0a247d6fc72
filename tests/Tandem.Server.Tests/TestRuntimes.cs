using Tandem.Engine.Tests;
using Tandem.Serving;

namespace Tandem.Server.Tests;

/// <summary>The real serving runtime on the shared tiny model, in each mode.</summary>
public static class TestRuntimes
{
    public static string ModelPath => TestPaths.Model("stories260K.gguf");

    public static IServingEngine Start(string mode) => throw new NotImplementedException(mode);
}
