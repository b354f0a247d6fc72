namespace Tandem.Hub;

/// <summary>A model that cannot be had from the Hub or its cache, with a message written for the user (what, and what to do).</summary>
public sealed class HubException(string message, Exception? inner = null) : Exception(message, inner);
