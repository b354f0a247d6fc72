namespace Tandem.Serving.Tests;

/// <summary>
/// Tests that look at every thread of the process (to find a runtime's threads by name) run alone, after the
/// parallel ones, so that other tests' runtimes do not add threads of the same names.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SerialCollection
{
    public const string Name = "serial: inspects the process's threads";
}
