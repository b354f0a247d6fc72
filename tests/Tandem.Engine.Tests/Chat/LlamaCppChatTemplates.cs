using System.Runtime.InteropServices;
using System.Text;
using LLama.Native;
using Tandem.Engine.Chat;
using Tandem.Engine.Tests.Oracle;

namespace Tandem.Engine.Tests.Chat;

/// <summary>llama.cpp's own chat rendering (llama_chat_apply_template, through LLamaSharp's native library).</summary>
internal static unsafe class LlamaCppChatTemplates
{
    /// <summary>
    /// llama.cpp's prompt for <paramref name="messages"/> under <paramref name="template"/> (a built-in name or a
    /// Jinja text it detects), or null when llama.cpp does not recognise the template.
    /// </summary>
    public static string? Apply(string template, IReadOnlyList<ChatMessage> messages, bool addAssistant)
    {
        LlamaCppNative.EnsureInitialized();
        var handles = new List<GCHandle>();
        try
        {
            byte* Pin(string s)
            {
                var h = GCHandle.Alloc(Utf8Z(s), GCHandleType.Pinned);
                handles.Add(h);
                return (byte*)h.AddrOfPinnedObject();
            }

            var chat = new LLamaChatMessage[messages.Count];
            for (int i = 0; i < messages.Count; i++)
            {
                chat[i].role = Pin(messages[i].Role);
                chat[i].content = Pin(messages[i].Content);
            }
            byte* tmpl = Pin(template);
            int size = 4096;
            while (true)
            {
                var buf = new byte[size];
                int n;
                fixed (LLamaChatMessage* pc = chat)
                fixed (byte* pb = buf)
                    n = NativeApi.llama_chat_apply_template(tmpl, pc, (nuint)chat.Length, addAssistant, pb, buf.Length);
                if (n < 0)
                    return null;
                if (n <= size)
                    return Encoding.UTF8.GetString(buf, 0, n);
                size = n;
            }
        }
        finally
        {
            foreach (var h in handles)
                h.Free();
        }
    }

    /// <summary>The names of llama.cpp's built-in chat formats (llama_chat_builtin_templates).</summary>
    public static string[] BuiltinNames()
    {
        LlamaCppNative.EnsureInitialized();
        int count = NativeApi.llama_chat_builtin_templates(null, 0);
        var names = new nint[count];
        fixed (nint* p = names)
            NativeApi.llama_chat_builtin_templates((char**)p, (nuint)count);
        return names.Select(p => Marshal.PtrToStringUTF8(p)!).ToArray();
    }

    private static byte[] Utf8Z(string s)
    {
        var bytes = new byte[Encoding.UTF8.GetByteCount(s) + 1];
        Encoding.UTF8.GetBytes(s, bytes);
        return bytes;
    }
}
