using System.Text;

namespace Tandem.Engine.Chat;

// Every branch below reproduces llama.cpp's llm_chat_apply_template (src/llama-chat.cpp) for its format byte for
// byte, including its quirks (which formats trim content, where spaces go, which ignore addGenerationPrompt); the
// tests compare each with llama.cpp itself. Messages have been validated, so roles are system/user/assistant/tool.
public sealed partial class ChatTemplate
{
    private string RenderValidated(IReadOnlyList<ChatMessage> chat, bool addAssistant)
    {
        var sb = new StringBuilder();
        switch (Kind)
        {
            case ChatTemplateKind.ChatMl:
                foreach (var m in chat)
                    sb.Append("<|im_start|>").Append(m.Role).Append('\n').Append(m.Content).Append("<|im_end|>\n");
                if (addAssistant)
                    sb.Append("<|im_start|>assistant\n");
                break;

            case ChatTemplateKind.MistralV7:
            case ChatTemplateKind.MistralV7Tekken:
            {
                string space = Kind == ChatTemplateKind.MistralV7 ? " " : "";
                foreach (var m in chat)
                {
                    if (m.Role == ChatRoles.System)
                        sb.Append("[SYSTEM_PROMPT]").Append(space).Append(m.Content).Append("[/SYSTEM_PROMPT]");
                    else if (m.Role == ChatRoles.User)
                        sb.Append("[INST]").Append(space).Append(m.Content).Append("[/INST]");
                    else
                        sb.Append(space).Append(m.Content).Append("</s>");
                }
                break;
            }

            case ChatTemplateKind.MistralV1:
            case ChatTemplateKind.MistralV3:
            case ChatTemplateKind.MistralV3Tekken:
            {
                string leading = Kind == ChatTemplateKind.MistralV1 ? " " : "";
                string trailing = Kind == ChatTemplateKind.MistralV3Tekken ? "" : " ";
                bool trimAssistant = Kind == ChatTemplateKind.MistralV3;
                bool insideTurn = false;
                foreach (var m in chat)
                {
                    if (!insideTurn)
                    {
                        sb.Append(leading).Append("[INST]").Append(trailing);
                        insideTurn = true;
                    }
                    if (m.Role == ChatRoles.System)
                        sb.Append(m.Content).Append("\n\n");
                    else if (m.Role == ChatRoles.User)
                        sb.Append(m.Content).Append(leading).Append("[/INST]");
                    else
                    {
                        sb.Append(trailing).Append(trimAssistant ? Trim(m.Content) : m.Content).Append("</s>");
                        insideTurn = false;
                    }
                }
                break;
            }

            case ChatTemplateKind.Llama2:
            case ChatTemplateKind.Llama2Sys:
            case ChatTemplateKind.Llama2SysBos:
            case ChatTemplateKind.Llama2SysStrip:
            {
                bool systemBlock = Kind != ChatTemplateKind.Llama2;
                bool bosInHistory = Kind == ChatTemplateKind.Llama2SysBos;
                bool strip = Kind == ChatTemplateKind.Llama2SysStrip;
                // The leading "<s>" of the Jinja template is left to the tokenizer's BOS.
                bool insideTurn = true;
                sb.Append("[INST] ");
                foreach (var m in chat)
                {
                    string content = strip ? Trim(m.Content) : m.Content;
                    if (!insideTurn)
                    {
                        insideTurn = true;
                        sb.Append(bosInHistory ? "<s>[INST] " : "[INST] ");
                    }
                    if (m.Role == ChatRoles.System)
                    {
                        if (systemBlock)
                            sb.Append("<<SYS>>\n").Append(content).Append("\n<</SYS>>\n\n");
                        else
                            sb.Append(content).Append('\n');
                    }
                    else if (m.Role == ChatRoles.User)
                        sb.Append(content).Append(" [/INST]");
                    else
                    {
                        sb.Append(content).Append("</s>");
                        insideTurn = false;
                    }
                }
                break;
            }

            case ChatTemplateKind.Phi3:
                foreach (var m in chat)
                    sb.Append("<|").Append(m.Role).Append("|>\n").Append(m.Content).Append("<|end|>\n");
                if (addAssistant)
                    sb.Append("<|assistant|>\n");
                break;

            case ChatTemplateKind.Phi4:
                foreach (var m in chat)
                    sb.Append("<|im_start|>").Append(m.Role).Append("<|im_sep|>").Append(m.Content).Append("<|im_end|>");
                if (addAssistant)
                    sb.Append("<|im_start|>assistant<|im_sep|>");
                break;

            case ChatTemplateKind.Falcon3:
                foreach (var m in chat)
                    sb.Append("<|").Append(m.Role).Append("|>\n").Append(m.Content).Append('\n');
                if (addAssistant)
                    sb.Append("<|assistant|>\n");
                break;

            case ChatTemplateKind.Zephyr:
                foreach (var m in chat)
                    sb.Append("<|").Append(m.Role).Append("|>\n").Append(m.Content).Append("<|endoftext|>\n");
                if (addAssistant)
                    sb.Append("<|assistant|>\n");
                break;

            case ChatTemplateKind.Monarch:
                for (int i = 0; i < chat.Count; i++)
                {
                    // llama.cpp skips the "<s>" before the first message, leaving it to the tokenizer's BOS.
                    if (i > 0)
                        sb.Append("<s>");
                    sb.Append(chat[i].Role).Append('\n').Append(chat[i].Content).Append("</s>\n");
                }
                if (addAssistant)
                    sb.Append("<s>assistant\n");
                break;

            case ChatTemplateKind.Gemma:
            {
                // Gemma has no system turn: system text waits for the next non-model turn and opens it.
                string pendingSystem = "";
                foreach (var m in chat)
                {
                    if (m.Role == ChatRoles.System)
                    {
                        pendingSystem += Trim(m.Content);
                        continue;
                    }
                    string role = m.Role == ChatRoles.Assistant ? "model" : m.Role;
                    sb.Append("<start_of_turn>").Append(role).Append('\n');
                    if (pendingSystem.Length > 0 && role != "model")
                    {
                        sb.Append(pendingSystem).Append("\n\n");
                        pendingSystem = "";
                    }
                    sb.Append(Trim(m.Content)).Append("<end_of_turn>\n");
                }
                if (addAssistant)
                    sb.Append("<start_of_turn>model\n");
                break;
            }

            case ChatTemplateKind.Orion:
            {
                string pendingSystem = "";
                foreach (var m in chat)
                {
                    if (m.Role == ChatRoles.System)
                        pendingSystem += m.Content;
                    else if (m.Role == ChatRoles.User)
                    {
                        sb.Append("Human: ");
                        if (pendingSystem.Length > 0)
                        {
                            sb.Append(pendingSystem).Append("\n\n");
                            pendingSystem = "";
                        }
                        sb.Append(m.Content).Append("\n\nAssistant: </s>");
                    }
                    else
                        sb.Append(m.Content).Append("</s>");
                }
                break;
            }

            case ChatTemplateKind.OpenChat:
                foreach (var m in chat)
                {
                    if (m.Role == ChatRoles.System)
                        sb.Append(m.Content).Append("<|end_of_turn|>");
                    else
                    {
                        // llama.cpp upper-cases the role's first byte (C toupper): "User", "Assistant", "Tool".
                        sb.Append("GPT4 Correct ").Append(char.ToUpperInvariant(m.Role[0])).Append(m.Role, 1, m.Role.Length - 1)
                            .Append(": ").Append(m.Content).Append("<|end_of_turn|>");
                    }
                }
                if (addAssistant)
                    sb.Append("GPT4 Correct Assistant:");
                break;

            case ChatTemplateKind.Vicuna:
            case ChatTemplateKind.VicunaOrca:
                foreach (var m in chat)
                {
                    if (m.Role == ChatRoles.System)
                    {
                        if (Kind == ChatTemplateKind.VicunaOrca)
                            sb.Append("SYSTEM: ").Append(m.Content).Append('\n');
                        else
                            sb.Append(m.Content).Append("\n\n");
                    }
                    else if (m.Role == ChatRoles.User)
                        sb.Append("USER: ").Append(m.Content).Append('\n');
                    else if (m.Role == ChatRoles.Assistant)
                        sb.Append("ASSISTANT: ").Append(m.Content).Append("</s>\n");
                }
                if (addAssistant)
                    sb.Append("ASSISTANT:");
                break;

            case ChatTemplateKind.DeepSeek:
                foreach (var m in chat)
                {
                    if (m.Role == ChatRoles.System)
                        sb.Append(m.Content);
                    else if (m.Role == ChatRoles.User)
                        sb.Append("### Instruction:\n").Append(m.Content).Append('\n');
                    else if (m.Role == ChatRoles.Assistant)
                        sb.Append("### Response:\n").Append(m.Content).Append("\n<|EOT|>\n");
                }
                if (addAssistant)
                    sb.Append("### Response:\n");
                break;

            case ChatTemplateKind.CommandR:
                foreach (var m in chat)
                {
                    string? header = m.Role switch
                    {
                        ChatRoles.System => "<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>",
                        ChatRoles.User => "<|START_OF_TURN_TOKEN|><|USER_TOKEN|>",
                        ChatRoles.Assistant => "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>",
                        _ => null,
                    };
                    if (header is not null)
                        sb.Append(header).Append(Trim(m.Content)).Append("<|END_OF_TURN_TOKEN|>");
                }
                if (addAssistant)
                    sb.Append("<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>");
                break;

            case ChatTemplateKind.Llama3:
                foreach (var m in chat)
                {
                    sb.Append("<|start_header_id|>").Append(m.Role).Append("<|end_header_id|>\n\n")
                        .Append(Trim(m.Content)).Append("<|eot_id|>");
                }
                if (addAssistant)
                    sb.Append("<|start_header_id|>assistant<|end_header_id|>\n\n");
                break;

            case ChatTemplateKind.ChatGlm3:
                sb.Append("[gMASK]sop");
                foreach (var m in chat)
                    sb.Append("<|").Append(m.Role).Append("|>\n ").Append(m.Content);
                if (addAssistant)
                    sb.Append("<|assistant|>");
                break;

            case ChatTemplateKind.ChatGlm4:
                sb.Append("[gMASK]<sop>");
                foreach (var m in chat)
                    sb.Append("<|").Append(m.Role).Append("|>\n").Append(m.Content);
                if (addAssistant)
                    sb.Append("<|assistant|>\n");
                break;

            case ChatTemplateKind.GlmEdge:
                foreach (var m in chat)
                    sb.Append("<|").Append(m.Role).Append("|>\n").Append(m.Content);
                if (addAssistant)
                    sb.Append("<|assistant|>");
                break;

            case ChatTemplateKind.MiniCpm:
                foreach (var m in chat)
                {
                    if (m.Role == ChatRoles.User)
                        sb.Append("<用户>").Append(Trim(m.Content)).Append("<AI>");
                    else
                        sb.Append(Trim(m.Content));
                }
                break;

            case ChatTemplateKind.DeepSeek2:
                foreach (var m in chat)
                {
                    if (m.Role == ChatRoles.System)
                        sb.Append(m.Content).Append("\n\n");
                    else if (m.Role == ChatRoles.User)
                        sb.Append("User: ").Append(m.Content).Append("\n\n");
                    else if (m.Role == ChatRoles.Assistant)
                        sb.Append("Assistant: ").Append(m.Content).Append("<｜end▁of▁sentence｜>");
                }
                if (addAssistant)
                    sb.Append("Assistant:");
                break;

            case ChatTemplateKind.DeepSeek3:
                foreach (var m in chat)
                {
                    if (m.Role == ChatRoles.System)
                        sb.Append(m.Content).Append("\n\n");
                    else if (m.Role == ChatRoles.User)
                        sb.Append("<｜User｜>").Append(m.Content);
                    else if (m.Role == ChatRoles.Assistant)
                        sb.Append("<｜Assistant｜>").Append(m.Content).Append("<｜end▁of▁sentence｜>");
                }
                if (addAssistant)
                    sb.Append("<｜Assistant｜>");
                break;

            case ChatTemplateKind.Exaone3:
            case ChatTemplateKind.Exaone4:
                foreach (var m in chat)
                {
                    if (m.Role == ChatRoles.System)
                        sb.Append("[|system|]").Append(Trim(m.Content)).Append("[|endofturn|]\n");
                    else if (m.Role == ChatRoles.User)
                        sb.Append("[|user|]").Append(Trim(m.Content)).Append('\n');
                    else if (m.Role == ChatRoles.Assistant)
                        sb.Append("[|assistant|]").Append(Trim(m.Content)).Append("[|endofturn|]\n");
                    else if (Kind == ChatTemplateKind.Exaone4)
                        sb.Append("[|tool|]").Append(Trim(m.Content)).Append("[|endofturn|]\n");
                }
                if (addAssistant)
                    sb.Append("[|assistant|]");
                break;

            case ChatTemplateKind.RwkvWorld:
                // "\n\n" is this format's end of turn; the assistant header follows a final user message whatever
                // addGenerationPrompt says.
                for (int i = 0; i < chat.Count; i++)
                {
                    var m = chat[i];
                    if (m.Role == ChatRoles.System)
                        sb.Append("System: ").Append(Trim(m.Content)).Append("\n\n");
                    else if (m.Role == ChatRoles.User)
                    {
                        sb.Append("User: ").Append(Trim(m.Content)).Append("\n\n");
                        if (i == chat.Count - 1)
                            sb.Append("Assistant:");
                    }
                    else if (m.Role == ChatRoles.Assistant)
                        sb.Append("Assistant: ").Append(Trim(m.Content)).Append("\n\n");
                }
                break;

            case ChatTemplateKind.Granite:
                foreach (var m in chat)
                {
                    sb.Append("<|start_of_role|>").Append(m.Role).Append("<|end_of_role|>")
                        .Append(m.Content).Append("<|end_of_text|>\n");
                }
                if (addAssistant)
                    sb.Append("<|start_of_role|>assistant<|end_of_role|>");
                break;

            case ChatTemplateKind.GigaChat:
            {
                bool hasSystem = chat[0].Role == ChatRoles.System;
                sb.Append("<s>");
                if (hasSystem)
                    sb.Append(chat[0].Content).Append("<|message_sep|>");
                for (int i = hasSystem ? 1 : 0; i < chat.Count; i++)
                {
                    var m = chat[i];
                    if (m.Role == ChatRoles.User)
                    {
                        sb.Append("user<|role_sep|>").Append(m.Content).Append("<|message_sep|>")
                            .Append("available functions<|role_sep|>[]<|message_sep|>");
                    }
                    else if (m.Role == ChatRoles.Assistant)
                        sb.Append("assistant<|role_sep|>").Append(m.Content).Append("<|message_sep|>");
                }
                if (addAssistant)
                    sb.Append("assistant<|role_sep|>");
                break;
            }

            case ChatTemplateKind.Megrez:
                foreach (var m in chat)
                    sb.Append("<|role_start|>").Append(m.Role).Append("<|role_end|>").Append(m.Content).Append("<|turn_end|>");
                if (addAssistant)
                    sb.Append("<|role_start|>assistant<|role_end|>");
                break;

            case ChatTemplateKind.Yandex:
                // "\n\n" is this format's end of turn. (The Jinja template's leading "<s>" is left to the tokenizer.)
                foreach (var m in chat)
                {
                    if (m.Role == ChatRoles.User)
                        sb.Append(" Пользователь: ").Append(m.Content).Append("\n\n");
                    else if (m.Role == ChatRoles.Assistant)
                        sb.Append(" Ассистент: ").Append(m.Content).Append("\n\n");
                }
                if (addAssistant)
                    sb.Append(" Ассистент:[SEP]");
                break;

            case ChatTemplateKind.Bailing:
                foreach (var m in chat)
                {
                    string role = m.Role == ChatRoles.User ? "HUMAN" : m.Role.ToUpperInvariant();
                    sb.Append("<role>").Append(role).Append("</role>").Append(m.Content);
                }
                if (addAssistant)
                    sb.Append("<role>ASSISTANT</role>");
                break;

            case ChatTemplateKind.Llama4:
                foreach (var m in chat)
                {
                    sb.Append("<|header_start|>").Append(m.Role).Append("<|header_end|>\n\n")
                        .Append(Trim(m.Content)).Append("<|eot|>");
                }
                if (addAssistant)
                    sb.Append("<|header_start|>assistant<|header_end|>\n\n");
                break;

            case ChatTemplateKind.SmolVlm:
                sb.Append("<|im_start|>");
                foreach (var m in chat)
                {
                    if (m.Role == ChatRoles.System)
                        sb.Append(m.Content).Append("\n\n");
                    else if (m.Role == ChatRoles.User)
                        sb.Append("User: ").Append(m.Content).Append("<end_of_utterance>\n");
                    else
                        sb.Append("Assistant: ").Append(m.Content).Append("<end_of_utterance>\n");
                }
                if (addAssistant)
                    sb.Append("Assistant:");
                break;

            case ChatTemplateKind.Dots1:
                foreach (var m in chat)
                {
                    if (m.Role == ChatRoles.System)
                        sb.Append("<|system|>").Append(m.Content).Append("<|endofsystem|>");
                    else if (m.Role == ChatRoles.User)
                        sb.Append("<|userprompt|>").Append(m.Content).Append("<|endofuserprompt|>");
                    else
                        sb.Append("<|response|>").Append(m.Content).Append("<|endofresponse|>");
                }
                if (addAssistant)
                    sb.Append("<|response|>");
                break;

            case ChatTemplateKind.HunyuanMoe:
                foreach (var m in chat)
                {
                    if (m.Role == ChatRoles.System)
                        sb.Append("<|startoftext|>").Append(m.Content).Append("<|extra_4|>");
                    else if (m.Role == ChatRoles.Assistant)
                        sb.Append(m.Content).Append("<|eos|>");
                    else
                        sb.Append("<|startoftext|>").Append(m.Content).Append("<|extra_0|>");
                }
                break;

            case ChatTemplateKind.HunyuanDense:
                // The user turn ends with the assistant's header, so there is no separate generation prompt.
                for (int i = 0; i < chat.Count; i++)
                {
                    var m = chat[i];
                    if (i == 0 && m.Role == ChatRoles.System)
                        sb.Append(m.Content).Append("<｜hy_place▁holder▁no▁3｜>");
                    if (m.Role == ChatRoles.Assistant)
                        sb.Append("<｜hy_Assistant｜>").Append(m.Content).Append("<｜hy_place▁holder▁no▁2｜>");
                    else if (m.Role == ChatRoles.User)
                        sb.Append("<｜hy_User｜>").Append(m.Content).Append("<｜hy_Assistant｜>");
                }
                break;

            case ChatTemplateKind.GptOss:
                // OpenAI's Harmony format, without channels.
                foreach (var m in chat)
                {
                    sb.Append("<|start|>").Append(m.Role).Append("<|message|>").Append(m.Content)
                        .Append(m.Role == ChatRoles.Assistant ? "<|return|>" : "<|end|>");
                }
                if (addAssistant)
                    sb.Append("<|start|>assistant");
                break;

            case ChatTemplateKind.KimiK2:
                foreach (var m in chat)
                {
                    sb.Append(m.Role switch
                    {
                        ChatRoles.System => "<|im_system|>system<|im_middle|>",
                        ChatRoles.User => "<|im_user|>user<|im_middle|>",
                        ChatRoles.Assistant => "<|im_assistant|>assistant<|im_middle|>",
                        _ => "<|im_system|>tool<|im_middle|>",
                    });
                    sb.Append(m.Content).Append("<|im_end|>");
                }
                if (addAssistant)
                    sb.Append("<|im_assistant|>assistant<|im_middle|>");
                break;

            case ChatTemplateKind.SeedOss:
                foreach (var m in chat)
                {
                    sb.Append("<seed:bos>").Append(m.Role).Append('\n')
                        .Append(m.Role == ChatRoles.Assistant ? Trim(m.Content) : m.Content).Append("<seed:eos>");
                }
                if (addAssistant)
                    sb.Append("<seed:bos>assistant\n");
                break;

            default:
                throw new InvalidOperationException($"no renderer for chat template kind {Kind}");
        }
        return sb.ToString();
    }

    /// <summary>
    /// llama.cpp's trim: strips the C locale's whitespace (space, \t, \n, \v, \f, \r) from both ends and nothing else,
    /// so non-ASCII spaces survive as they do there (string.Trim would remove them).
    /// </summary>
    private static string Trim(string s)
    {
        int start = 0, end = s.Length;
        while (start < end && IsCSpace(s[start]))
            start++;
        while (end > start && IsCSpace(s[end - 1]))
            end--;
        return start == 0 && end == s.Length ? s : s[start..end];
    }

    private static bool IsCSpace(char c) => c is ' ' or '\t' or '\n' or '\v' or '\f' or '\r';
}
