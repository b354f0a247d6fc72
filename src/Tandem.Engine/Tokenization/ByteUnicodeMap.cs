namespace Tandem.Engine.Tokenization;

/// <summary>
/// GPT-2's reversible byte-to-unicode table: printable Latin-1 bytes map to themselves, the other 68 bytes to
/// U+0100.. in byte order. Byte-level BPE vocabularies store token text in this alphabet.
/// </summary>
internal static class ByteUnicodeMap
{
    private static readonly char[] s_byteToChar = BuildByteToChar();
    private static readonly Dictionary<int, byte> s_charToByte = BuildCharToByte();

    public static char ToChar(byte b) => s_byteToChar[b];

    public static bool TryToByte(int codepoint, out byte b) => s_charToByte.TryGetValue(codepoint, out b);

    private static bool IsSelfMapped(int b) => b is >= 0x21 and <= 0x7E or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;

    private static char[] BuildByteToChar()
    {
        var map = new char[256];
        int n = 0;
        for (int b = 0; b < 256; b++)
            map[b] = IsSelfMapped(b) ? (char)b : (char)(256 + n++);
        return map;
    }

    private static Dictionary<int, byte> BuildCharToByte()
    {
        var map = new Dictionary<int, byte>(256);
        for (int b = 0; b < 256; b++) map[s_byteToChar[b]] = (byte)b;
        return map;
    }
}
