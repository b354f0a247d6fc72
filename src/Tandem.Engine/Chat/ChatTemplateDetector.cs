namespace Tandem.Engine.Chat;

/// <summary>
/// Recognises a chat format from a model's Jinja chat template (GGUF key tokenizer.chat_template) by the substrings
/// llama.cpp's llm_chat_detect_template looks for, tested in the same order, so that every template text resolves to
/// the same format in both. Some outcomes follow llama.cpp rather than the model's name: the real
/// zephyr-7b-beta template (which writes eos_token, not a literal "&lt;|endoftext|&gt;") contains "&lt;|user|&gt;"
/// and "&lt;|assistant|&gt;" and so resolves to glmedge, as it does in llama.cpp.
/// </summary>
internal static class ChatTemplateDetector
{
    public static ChatTemplateKind? Detect(string template)
    {
        // llama.cpp first tries the whole text as a built-in name, so a GGUF whose template is just "chatml" works.
        if (ChatTemplateNames.TryParse(template, out var named))
            return named;

        bool Has(string s) => template.Contains(s, StringComparison.Ordinal);

        if (Has("<|im_start|>"))
        {
            return Has("<|im_sep|>") ? ChatTemplateKind.Phi4
                : Has("<end_of_utterance>") ? ChatTemplateKind.SmolVlm // SmolVLM uses <|im_start|> as BOS only
                : ChatTemplateKind.ChatMl;
        }
        if (template.StartsWith("mistral", StringComparison.Ordinal) || Has("[INST]"))
        {
            if (Has("[SYSTEM_PROMPT]"))
                return ChatTemplateKind.MistralV7;
            // Mistral's official v1 template, and the v3 / v3-tekken ones (which mention [AVAILABLE_TOOLS]).
            if (Has("' [INST] ' + system_message") || Has("[AVAILABLE_TOOLS]"))
            {
                if (Has(" [INST]"))
                    return ChatTemplateKind.MistralV1;
                if (Has("\"[INST]\""))
                    return ChatTemplateKind.MistralV3Tekken;
                return ChatTemplateKind.MistralV3;
            }
            // Llama 2 and its variants: the first matching trait wins, in this order.
            if (Has("content.strip()"))
                return ChatTemplateKind.Llama2SysStrip;
            if (Has("bos_token + '[INST]"))
                return ChatTemplateKind.Llama2SysBos;
            if (Has("<<SYS>>"))
                return ChatTemplateKind.Llama2Sys;
            return ChatTemplateKind.Llama2;
        }
        if (Has("<|assistant|>") && Has("<|end|>"))
            return ChatTemplateKind.Phi3;
        if (Has("[gMASK]<sop>"))
            return ChatTemplateKind.ChatGlm4;
        if (Has("<|assistant|>") && Has("<|user|>"))
            return Has("</s>") ? ChatTemplateKind.Falcon3 : ChatTemplateKind.GlmEdge;
        if (Has("<|{{ item['role'] }}|>") && Has("<|begin_of_image|>"))
            return ChatTemplateKind.GlmEdge;
        if (Has("<|user|>") && Has("<|endoftext|>"))
            return ChatTemplateKind.Zephyr;
        if (Has("bos_token + message['role']"))
            return ChatTemplateKind.Monarch;
        if (Has("<start_of_turn>"))
            return ChatTemplateKind.Gemma;
        if (Has(@"'\n\nAssistant: ' + eos_token"))
            return ChatTemplateKind.Orion;
        if (Has("GPT4 Correct "))
            return ChatTemplateKind.OpenChat;
        if (Has("USER: ") && Has("ASSISTANT: "))
            return Has("SYSTEM: ") ? ChatTemplateKind.VicunaOrca : ChatTemplateKind.Vicuna;
        if (Has("### Instruction:") && Has("<|EOT|>"))
            return ChatTemplateKind.DeepSeek;
        if (Has("<|START_OF_TURN_TOKEN|>") && Has("<|USER_TOKEN|>"))
            return ChatTemplateKind.CommandR;
        if (Has("<|start_header_id|>") && Has("<|end_header_id|>"))
            return ChatTemplateKind.Llama3;
        if (Has("[gMASK]sop"))
            return ChatTemplateKind.ChatGlm3;
        if (Has("<用户>"))
            return ChatTemplateKind.MiniCpm;
        if (Has("'Assistant: ' + message['content'] + eos_token"))
            return ChatTemplateKind.DeepSeek2;
        if (Has("<｜Assistant｜>") && Has("<｜User｜>") && Has("<｜end▁of▁sentence｜>"))
            return ChatTemplateKind.DeepSeek3;
        if (Has("[|system|]") && Has("[|assistant|]") && Has("[|endofturn|]"))
            return Has("[|tool|]") ? ChatTemplateKind.Exaone4 : ChatTemplateKind.Exaone3;
        if (Has("rwkv-world") || Has(@"{{- 'User: ' + message['content']|trim + '\n\n' -}}"))
            return ChatTemplateKind.RwkvWorld;
        if (Has("<|start_of_role|>"))
            return ChatTemplateKind.Granite;
        if (Has("message['role'] + additional_special_tokens[0] + message['content'] + additional_special_tokens[1]"))
            return ChatTemplateKind.GigaChat;
        if (Has("<|role_start|>"))
            return ChatTemplateKind.Megrez;
        if (Has(" Ассистент:"))
            return ChatTemplateKind.Yandex;
        if (Has("<role>ASSISTANT</role>") && Has("'HUMAN'"))
            return ChatTemplateKind.Bailing;
        if (Has("<|header_start|>") && Has("<|header_end|>"))
            return ChatTemplateKind.Llama4;
        if (Has("<|endofuserprompt|>"))
            return ChatTemplateKind.Dots1;
        if (Has("<|extra_0|>") && Has("<|extra_4|>"))
            return ChatTemplateKind.HunyuanMoe;
        if (Has("<|start|>") && Has("<|channel|>"))
            return ChatTemplateKind.GptOss;
        if (Has("<｜hy_Assistant｜>") && Has("<｜hy_place▁holder▁no▁3｜>"))
            return ChatTemplateKind.HunyuanDense;
        if (Has("<|im_assistant|>assistant<|im_middle|>"))
            return ChatTemplateKind.KimiK2;
        if (Has("<seed:bos>"))
            return ChatTemplateKind.SeedOss;
        return null;
    }
}
