using Microsoft.AspNetCore.Http;

namespace Tandem.Server.Access;

/// <summary>Which paths each access check covers: the API (keys, JSON bodies), the monitoring views (metrics key), the rest open.</summary>
internal static class ProtectedRoutes
{
    /// <summary>/v1/* and the tokenizer routes: they run the model's tokenizer or generations, so they take the API key.</summary>
    public static bool IsApi(PathString path) =>
        path.StartsWithSegments("/v1") || path.StartsWithSegments("/tokenize") || path.StartsWithSegments("/detokenize");

    /// <summary>/metrics and /plan: operators' views, behind the metrics key when one is set; /health and /version stay open for probes.</summary>
    public static bool IsMonitoring(PathString path) => path.StartsWithSegments("/metrics") || path.StartsWithSegments("/plan");
}
