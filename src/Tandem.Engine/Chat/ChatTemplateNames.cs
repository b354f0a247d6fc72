namespace Tandem.Engine.Chat;

/// <summary>The names llama.cpp gives its built-in chat formats (LLM_CHAT_TEMPLATES in src/llama-chat.cpp).</summary>
public static class ChatTemplateNames
{
    private static readonly (string Name, ChatTemplateKind Kind)[] Table =
    [
        ("chatml", ChatTemplateKind.ChatMl),
        ("llama2", ChatTemplateKind.Llama2),
        ("llama2-sys", ChatTemplateKind.Llama2Sys),
        ("llama2-sys-bos", ChatTemplateKind.Llama2SysBos),
        ("llama2-sys-strip", ChatTemplateKind.Llama2SysStrip),
        ("mistral-v1", ChatTemplateKind.MistralV1),
        ("mistral-v3", ChatTemplateKind.MistralV3),
        ("mistral-v3-tekken", ChatTemplateKind.MistralV3Tekken),
        ("mistral-v7", ChatTemplateKind.MistralV7),
        ("mistral-v7-tekken", ChatTemplateKind.MistralV7Tekken),
        ("phi3", ChatTemplateKind.Phi3),
        ("phi4", ChatTemplateKind.Phi4),
        ("falcon3", ChatTemplateKind.Falcon3),
        ("zephyr", ChatTemplateKind.Zephyr),
        ("monarch", ChatTemplateKind.Monarch),
        ("gemma", ChatTemplateKind.Gemma),
        ("orion", ChatTemplateKind.Orion),
        ("openchat", ChatTemplateKind.OpenChat),
        ("vicuna", ChatTemplateKind.Vicuna),
        ("vicuna-orca", ChatTemplateKind.VicunaOrca),
        ("deepseek", ChatTemplateKind.DeepSeek),
        ("deepseek2", ChatTemplateKind.DeepSeek2),
        ("deepseek3", ChatTemplateKind.DeepSeek3),
        ("command-r", ChatTemplateKind.CommandR),
        ("llama3", ChatTemplateKind.Llama3),
        ("chatglm3", ChatTemplateKind.ChatGlm3),
        ("chatglm4", ChatTemplateKind.ChatGlm4),
        ("glmedge", ChatTemplateKind.GlmEdge),
        ("minicpm", ChatTemplateKind.MiniCpm),
        ("exaone3", ChatTemplateKind.Exaone3),
        ("exaone4", ChatTemplateKind.Exaone4),
        ("rwkv-world", ChatTemplateKind.RwkvWorld),
        ("granite", ChatTemplateKind.Granite),
        ("gigachat", ChatTemplateKind.GigaChat),
        ("megrez", ChatTemplateKind.Megrez),
        ("yandex", ChatTemplateKind.Yandex),
        ("bailing", ChatTemplateKind.Bailing),
        ("llama4", ChatTemplateKind.Llama4),
        ("smolvlm", ChatTemplateKind.SmolVlm),
        ("dots1", ChatTemplateKind.Dots1),
        ("hunyuan-moe", ChatTemplateKind.HunyuanMoe),
        ("gpt-oss", ChatTemplateKind.GptOss),
        ("hunyuan-dense", ChatTemplateKind.HunyuanDense),
        ("kimi-k2", ChatTemplateKind.KimiK2),
        ("seed_oss", ChatTemplateKind.SeedOss),
    ];

    /// <summary>Every name, sorted as llama.cpp lists them (llama_chat_builtin_templates walks a std::map).</summary>
    public static IReadOnlyList<string> All { get; } = Table.Select(e => e.Name).Order(StringComparer.Ordinal).ToArray();

    /// <summary>The name llama.cpp gives <paramref name="kind"/>.</summary>
    public static string Of(ChatTemplateKind kind)
    {
        foreach (var (name, k) in Table)
        {
            if (k == kind)
                return name;
        }
        throw new ArgumentOutOfRangeException(nameof(kind), kind, "not a chat template kind");
    }

    /// <summary>Looks up a name exactly (llama.cpp's names are case-sensitive).</summary>
    public static bool TryParse(string name, out ChatTemplateKind kind)
    {
        foreach (var (n, k) in Table)
        {
            if (string.Equals(n, name, StringComparison.Ordinal))
            {
                kind = k;
                return true;
            }
        }
        kind = default;
        return false;
    }
}
