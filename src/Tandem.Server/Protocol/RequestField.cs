using System.Text.Json;

namespace Tandem.Server.Protocol;

/// <summary>
/// One top-level field an endpoint knows: its status, why (for the README), and for a refused field which values
/// ask for nothing the server does not do anyway (<see cref="IsHarmless"/>): those are let through.
/// </summary>
public sealed record RequestField(string Name, FieldStatus Status, string Note)
{
    /// <summary>For a refused field: the value the server's own behaviour already matches (null: false, 0, "", [], {}).</summary>
    public bool? HarmlessWhen { get; init; }

    public bool IsHarmless(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Null => true,
        JsonValueKind.True => HarmlessWhen == true,
        JsonValueKind.False => HarmlessWhen != true,
        JsonValueKind.String => value.GetString() is "",
        JsonValueKind.Array => value.GetArrayLength() == 0,
        JsonValueKind.Object => !value.EnumerateObject().Any(),
        JsonValueKind.Number => value.TryGetDouble(out double d) && d == 0,
        _ => false,
    };
}
