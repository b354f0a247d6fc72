namespace Tandem.Engine.Chat;

/// <summary>
/// The chat formats llama.cpp renders without a Jinja engine (src/llama-chat.cpp, llm_chat_apply_template). Each
/// has the name llama.cpp gives it (<see cref="ChatTemplateNames"/>), which is what <c>--chat-template NAME</c> takes.
/// </summary>
public enum ChatTemplateKind
{
    /// <summary>"chatml": &lt;|im_start|&gt;role\ncontent&lt;|im_end|&gt;\n (Qwen, OpenHermes, Yi, ...).</summary>
    ChatMl,
    /// <summary>"llama2": [INST] ... [/INST]; a system message is written into the first turn without &lt;&lt;SYS&gt;&gt;.</summary>
    Llama2,
    /// <summary>"llama2-sys": as llama2, the system message inside &lt;&lt;SYS&gt;&gt; ... &lt;&lt;/SYS&gt;&gt;.</summary>
    Llama2Sys,
    /// <summary>"llama2-sys-bos": as llama2-sys, with "&lt;s&gt;" before each later [INST].</summary>
    Llama2SysBos,
    /// <summary>"llama2-sys-strip": as llama2-sys, every message's content trimmed.</summary>
    Llama2SysStrip,
    /// <summary>"mistral-v1": " [INST] ... [/INST]" with the leading space of Mistral's v1 tokenizer.</summary>
    MistralV1,
    /// <summary>"mistral-v3": "[INST] ...[/INST]", assistant content trimmed.</summary>
    MistralV3,
    /// <summary>"mistral-v3-tekken": "[INST]...[/INST]", no spaces.</summary>
    MistralV3Tekken,
    /// <summary>"mistral-v7": [SYSTEM_PROMPT] / [INST] blocks with a space after each tag.</summary>
    MistralV7,
    /// <summary>"mistral-v7-tekken": as mistral-v7 without the spaces.</summary>
    MistralV7Tekken,
    /// <summary>"phi3": &lt;|role|&gt;\ncontent&lt;|end|&gt;\n.</summary>
    Phi3,
    /// <summary>"phi4": &lt;|im_start|&gt;role&lt;|im_sep|&gt;content&lt;|im_end|&gt;.</summary>
    Phi4,
    /// <summary>"falcon3": &lt;|role|&gt;\ncontent\n.</summary>
    Falcon3,
    /// <summary>"zephyr": &lt;|role|&gt;\ncontent&lt;|endoftext|&gt;\n.</summary>
    Zephyr,
    /// <summary>"monarch": role\ncontent&lt;/s&gt;\n with "&lt;s&gt;" before every message but the first.</summary>
    Monarch,
    /// <summary>"gemma": &lt;start_of_turn&gt;user|model; the system message is folded into the next user turn.</summary>
    Gemma,
    /// <summary>"orion": Human: ... Assistant: &lt;/s&gt; (Orion-14B-Chat); the system message is folded into the next user turn.</summary>
    Orion,
    /// <summary>"openchat": GPT4 Correct User: ...&lt;|end_of_turn|&gt;.</summary>
    OpenChat,
    /// <summary>"vicuna": USER: / ASSISTANT: lines, the system message as a bare paragraph.</summary>
    Vicuna,
    /// <summary>"vicuna-orca": as vicuna with a "SYSTEM: " line.</summary>
    VicunaOrca,
    /// <summary>"deepseek": ### Instruction: / ### Response: (deepseek-coder-instruct).</summary>
    DeepSeek,
    /// <summary>"deepseek2": User: / Assistant: (DeepSeek-V2).</summary>
    DeepSeek2,
    /// <summary>"deepseek3": &lt;｜User｜&gt; / &lt;｜Assistant｜&gt; (DeepSeek-V3, R1).</summary>
    DeepSeek3,
    /// <summary>"command-r": &lt;|START_OF_TURN_TOKEN|&gt;&lt;|USER_TOKEN|&gt;... (Cohere Command-R).</summary>
    CommandR,
    /// <summary>"llama3": &lt;|start_header_id|&gt;role&lt;|end_header_id|&gt;\n\ncontent&lt;|eot_id|&gt;, content trimmed.</summary>
    Llama3,
    /// <summary>"chatglm3": [gMASK]sop&lt;|role|&gt;\n content.</summary>
    ChatGlm3,
    /// <summary>"chatglm4": [gMASK]&lt;sop&gt;&lt;|role|&gt;\ncontent.</summary>
    ChatGlm4,
    /// <summary>"glmedge": &lt;|role|&gt;\ncontent.</summary>
    GlmEdge,
    /// <summary>"minicpm": &lt;用户&gt;...&lt;AI&gt;.</summary>
    MiniCpm,
    /// <summary>"exaone3": [|role|]content (EXAONE 3).</summary>
    Exaone3,
    /// <summary>"exaone4": as exaone3 with a [|tool|] role.</summary>
    Exaone4,
    /// <summary>"rwkv-world": User: / Assistant: paragraphs.</summary>
    RwkvWorld,
    /// <summary>"granite": &lt;|start_of_role|&gt;role&lt;|end_of_role|&gt;content&lt;|end_of_text|&gt;\n (IBM Granite).</summary>
    Granite,
    /// <summary>"gigachat": &lt;s&gt;system&lt;|message_sep|&gt;user&lt;|role_sep|&gt;... (GigaChat).</summary>
    GigaChat,
    /// <summary>"megrez": &lt;|role_start|&gt;role&lt;|role_end|&gt;content&lt;|turn_end|&gt;.</summary>
    Megrez,
    /// <summary>"yandex": Пользователь: / Ассистент: (YandexGPT); no system role.</summary>
    Yandex,
    /// <summary>"bailing": &lt;role&gt;HUMAN&lt;/role&gt;... (Ling).</summary>
    Bailing,
    /// <summary>"llama4": &lt;|header_start|&gt;role&lt;|header_end|&gt;\n\ncontent&lt;|eot|&gt;.</summary>
    Llama4,
    /// <summary>"smolvlm": &lt;|im_start|&gt;User: ...&lt;end_of_utterance&gt;.</summary>
    SmolVlm,
    /// <summary>
    /// "dots1": &lt;|userprompt|&gt;...&lt;|endofuserprompt|&gt;&lt;|response|&gt; (dots.llm1). llama.cpp only detects this
    /// one from template text and has no name for it; Tandem names it "dots1" so it can be chosen too.
    /// </summary>
    Dots1,
    /// <summary>"hunyuan-moe": &lt;|startoftext|&gt;...&lt;|extra_0|&gt; (Hunyuan-A13B).</summary>
    HunyuanMoe,
    /// <summary>"gpt-oss": &lt;|start|&gt;role&lt;|message|&gt;content&lt;|end|&gt; (OpenAI gpt-oss, Harmony without channels).</summary>
    GptOss,
    /// <summary>"hunyuan-dense": &lt;｜hy_User｜&gt; / &lt;｜hy_Assistant｜&gt; (Hunyuan 0.5B-7B).</summary>
    HunyuanDense,
    /// <summary>"kimi-k2": &lt;|im_user|&gt;user&lt;|im_middle|&gt;...&lt;|im_end|&gt;.</summary>
    KimiK2,
    /// <summary>"seed_oss": &lt;seed:bos&gt;role\ncontent&lt;seed:eos&gt; (ByteDance Seed-OSS).</summary>
    SeedOss,
}
