using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace Tandem.Server.Protocol;

/// <summary>
/// What a JSON string decodes to, read from its raw bytes (escapes as written) without decoding it: the UTF-8
/// length of the text, and whether its \u escapes of UTF-16 surrogates pair up. Lets the server check a body's
/// text, and refuse a prompt that cannot fit the context, before allocating any string.
/// </summary>
internal static class JsonStringBytes
{
    /// <summary>The UTF-8 length of the string <paramref name="element"/> holds (see <see cref="DecodedUtf8Length(ReadOnlySpan{byte})"/>).</summary>
    public static long DecodedUtf8Length(JsonElement element) => DecodedUtf8Length(JsonMarshal.GetRawUtf8Value(element)[1..^1]);

    /// <summary>
    /// The UTF-8 length of the text that <paramref name="raw"/> (a string's bytes between its quotes) decodes to, or
    /// -1 when a \u escape of a high surrogate is not followed at once by one of a low surrogate, or a low one does
    /// not follow a high one. The parser has already checked the escapes' syntax (four hex digits after \u).
    /// </summary>
    public static long DecodedUtf8Length(ReadOnlySpan<byte> raw)
    {
        long length = raw.Length;
        bool awaitingLow = false;
        int i = raw.IndexOf((byte)'\\');
        if (i < 0) return length;
        while (true)
        {
            if (raw[i + 1] == (byte)'u')
            {
                int unit = int.Parse(raw.Slice(i + 2, 4), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
                length -= 6;
                if (char.IsHighSurrogate((char)unit))
                {
                    if (awaitingLow) return -1;
                    awaitingLow = true;
                    length += 2; // half of the pair's 4 bytes
                }
                else if (char.IsLowSurrogate((char)unit))
                {
                    if (!awaitingLow) return -1;
                    awaitingLow = false;
                    length += 2;
                }
                else
                {
                    if (awaitingLow) return -1;
                    length += unit < 0x80 ? 1 : unit < 0x800 ? 2 : 3;
                }
                i += 6;
            }
            else
            {
                if (awaitingLow) return -1;
                length -= 1; // \n, \", \\ ...: two bytes for one
                i += 2;
            }
            if (i >= raw.Length) break;
            if (raw[i] != (byte)'\\')
            {
                if (awaitingLow) return -1;
                int next = raw[i..].IndexOf((byte)'\\');
                if (next < 0) break;
                i += next;
            }
        }
        return awaitingLow ? -1 : length;
    }
}
