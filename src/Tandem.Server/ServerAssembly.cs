namespace Tandem.Server;

/// <summary>Placeholder so the project builds before the API lands.</summary>
internal static class ServerAssembly;
