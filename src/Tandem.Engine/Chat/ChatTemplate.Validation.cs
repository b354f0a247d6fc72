namespace Tandem.Engine.Chat;

public sealed partial class ChatTemplate
{
    /// <summary>Where a format can put a system message.</summary>
    private enum SystemPlacement
    {
        /// <summary>Anywhere in the conversation.</summary>
        Anywhere,
        /// <summary>Only as the first message (llama.cpp drops later ones).</summary>
        FirstOnly,
        /// <summary>Folded into the next user turn (llama.cpp drops one no user turn follows).</summary>
        IntoNextUserTurn,
        /// <summary>Nowhere (llama.cpp drops every system message).</summary>
        Nowhere,
    }

    private SystemPlacement SystemRule => Kind switch
    {
        ChatTemplateKind.GigaChat or ChatTemplateKind.HunyuanDense => SystemPlacement.FirstOnly,
        ChatTemplateKind.Gemma or ChatTemplateKind.Orion => SystemPlacement.IntoNextUserTurn,
        ChatTemplateKind.Yandex => SystemPlacement.Nowhere,
        _ => SystemPlacement.Anywhere,
    };

    /// <summary>
    /// Whether a "tool" message comes out as a tool message: true where llama.cpp writes the role name into the text
    /// (or has a tool marker). Elsewhere llama.cpp either drops it or renders it as an assistant or user turn, which
    /// would put words in the wrong mouth.
    /// </summary>
    private bool ExpressesToolRole => Kind is ChatTemplateKind.ChatMl or ChatTemplateKind.Phi3 or ChatTemplateKind.Phi4
        or ChatTemplateKind.Falcon3 or ChatTemplateKind.Zephyr or ChatTemplateKind.Monarch or ChatTemplateKind.Gemma
        or ChatTemplateKind.OpenChat or ChatTemplateKind.Llama3 or ChatTemplateKind.ChatGlm3
        or ChatTemplateKind.ChatGlm4 or ChatTemplateKind.GlmEdge or ChatTemplateKind.Exaone4
        or ChatTemplateKind.Granite or ChatTemplateKind.Megrez or ChatTemplateKind.Bailing
        or ChatTemplateKind.Llama4 or ChatTemplateKind.KimiK2 or ChatTemplateKind.GptOss or ChatTemplateKind.SeedOss;

    private void Validate(IReadOnlyList<ChatMessage> messages)
    {
        if (messages.Count == 0)
            throw new ChatTemplateException("the chat has no messages");

        var systemRule = SystemRule;
        for (int i = 0; i < messages.Count; i++)
        {
            var message = messages[i] ?? throw new ChatTemplateException($"message {i} is null");
            string? role = message.Role;
            if (role is null || !ChatRoles.IsKnown(role))
            {
                throw new ChatTemplateException(
                    $"message {i} has role '{role}'; the roles are system, user, assistant and tool");
            }
            if (message.Content is null)
                throw new ChatTemplateException($"message {i} ({role}) has no content");

            if (role == ChatRoles.Tool && !ExpressesToolRole)
                throw new ChatTemplateException($"message {i}: the chat template '{Name}' has no tool role");

            if (role != ChatRoles.System)
                continue;
            switch (systemRule)
            {
                case SystemPlacement.Nowhere:
                    throw new ChatTemplateException(
                        $"message {i}: the chat template '{Name}' has no system role; leave out system messages");
                case SystemPlacement.FirstOnly when i != 0:
                    throw new ChatTemplateException(
                        $"message {i}: the chat template '{Name}' accepts a system message only as the first message");
                case SystemPlacement.IntoNextUserTurn when !HasLaterTurnTakingSystem(messages, i):
                    throw new ChatTemplateException(
                        $"message {i}: the chat template '{Name}' puts a system message into the next user message, " +
                        "and none follows");
            }
        }
    }

    /// <summary>Whether a turn that absorbs pending system text follows message <paramref name="index"/>.</summary>
    private bool HasLaterTurnTakingSystem(IReadOnlyList<ChatMessage> messages, int index)
    {
        for (int j = index + 1; j < messages.Count; j++)
        {
            string role = messages[j].Role;
            // Gemma writes the pending system text into the next turn that is not the model's (user or tool); Orion
            // only into the next user turn.
            bool takes = Kind == ChatTemplateKind.Gemma
                ? role is ChatRoles.User or ChatRoles.Tool
                : role == ChatRoles.User;
            if (takes)
                return true;
        }
        return false;
    }
}
