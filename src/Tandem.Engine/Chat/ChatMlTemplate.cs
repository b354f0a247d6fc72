namespace Tandem.Engine.Chat;

/// <summary>
/// Tandem's ChatML as a Jinja template: without tools it writes exactly what the built-in chatml format (and
/// llama.cpp) writes; with tools it adds the Hermes / Qwen 2.5 tool prompt (a system turn listing each tool's JSON,
/// calls as <c>&lt;tool_call&gt;</c> blocks, results as <c>&lt;tool_response&gt;</c>), so the fallback for models
/// without a template of their own can call tools too.
/// </summary>
public static class ChatMlTemplate
{
    public const string Name = "chatml";

    public const string Source = """
        {%- if tools %}
            {{- '<|im_start|>system\n' }}
            {%- if messages[0].role == 'system' %}
                {{- messages[0].content + '\n\n' }}
            {%- endif %}
            {{- "# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
            {%- for tool in tools %}
                {{- "\n" }}
                {{- tool | tojson }}
            {%- endfor %}
            {{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" }}
        {%- endif %}
        {%- for message in messages %}
            {%- if message.role == 'system' and tools and loop.first %}
            {%- elif message.role == 'assistant' and message.tool_calls %}
                {{- '<|im_start|>assistant' }}
                {%- if message.content %}
                    {{- '\n' + message.content }}
                {%- endif %}
                {%- for tool_call in message.tool_calls %}
                    {{- '\n<tool_call>\n{"name": "' + tool_call.function.name + '", "arguments": ' + tool_call.function.arguments | tojson + '}\n</tool_call>' }}
                {%- endfor %}
                {{- '<|im_end|>\n' }}
            {%- elif message.role == 'tool' and tools %}
                {{- '<|im_start|>tool\n<tool_response>\n' + message.content + '\n</tool_response><|im_end|>\n' }}
            {%- else %}
                {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>\n' }}
            {%- endif %}
        {%- endfor %}
        {%- if add_generation_prompt %}
            {{- '<|im_start|>assistant\n' }}
        {%- endif %}
        """;

    /// <summary>The template for a model whose BOS and EOS tokens are <paramref name="bosToken"/> and <paramref name="eosToken"/>.</summary>
    public static JinjaChatTemplate Create(string bosToken, string eosToken) => JinjaChatTemplate.Parse(Name, Source, bosToken, eosToken);
}
