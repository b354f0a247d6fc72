using System.Globalization;

namespace Tandem.Engine.Chat.Jinja;

/// <summary>
/// A parsed Jinja template, rendered as Hugging Face renders chat templates (transformers' environment, checked
/// byte for byte against @huggingface/jinja): parse once, render many times; thread-safe once parsed.
/// Globals: <c>raise_exception</c>, <c>range</c>, <c>namespace</c>, <c>strftime_now</c>, <c>true</c>/<c>false</c>/<c>none</c> (and the capitalised spellings).
/// </summary>
public sealed class JinjaTemplate
{
    private readonly List<JinjaNode> _program;

    private JinjaTemplate(List<JinjaNode> program) => _program = program;

    /// <summary>Throws <see cref="JinjaException"/> when the text is not a template this interpreter can parse.</summary>
    public static JinjaTemplate Parse(string source)
    {
        ArgumentNullException.ThrowIfNull(source);
        return new JinjaTemplate(JinjaParser.Parse(JinjaLexer.Tokenize(source)));
    }

    /// <summary>Renders with <paramref name="variables"/> as the template's context. Throws <see cref="JinjaException"/> on a render error.</summary>
    public string Render(IReadOnlyDictionary<string, JinjaValue> variables, TimeProvider? time = null)
    {
        var globals = new JinjaScope(null);
        globals.Set("true", JinjaBool.True);
        globals.Set("false", JinjaBool.False);
        globals.Set("none", JinjaNone.Instance);
        globals.Set("True", JinjaBool.True);
        globals.Set("False", JinjaBool.False);
        globals.Set("None", JinjaNone.Instance);
        globals.Set("raise_exception", new JinjaFunction(a =>
            throw new JinjaException(a.Positional.Count > 0 ? a.Positional[0].Print() : "the chat template raised an exception", raised: true)));
        globals.Set("range", new JinjaFunction(Range));
        globals.Set("namespace", new JinjaFunction(Namespace));
        var clock = time ?? TimeProvider.System;
        globals.Set("strftime_now", new JinjaFunction(a => a.Get(0, "format") is JinjaString f
            ? new JinjaString(Strftime(clock.GetLocalNow(), f.Value))
            : throw new JinjaException("strftime_now() needs a format string")));
        var scope = new JinjaScope(globals);
        foreach (var (name, value) in variables)
            scope.Set(name, value);
        try
        {
            return new JinjaInterpreter().Render(_program, scope);
        }
        catch (InsufficientExecutionStackException)
        {
            throw new JinjaException("the template nests too deeply to render");
        }
    }

    private static JinjaValue Range(JinjaArguments a)
    {
        long Arg(int i) => a.Positional[i] is JinjaInt n ? n.Value : throw new JinjaException("range() takes integers");
        var (start, stop, step) = a.Positional.Count switch
        {
            1 => (0L, Arg(0), 1L),
            2 => (Arg(0), Arg(1), 1L),
            3 => (Arg(0), Arg(1), Arg(2)),
            _ => throw new JinjaException("range() takes one to three integers"),
        };
        if (step == 0)
            throw new JinjaException("range() step must not be zero");
        var items = new List<JinjaValue>();
        for (long i = start; step > 0 ? i < stop : i > stop; i += step)
        {
            if (items.Count >= 1_000_000)
                throw new JinjaException("range() is limited to a million items");
            items.Add(new JinjaInt(i));
        }
        return new JinjaList(items);
    }

    private static JinjaValue Namespace(JinjaArguments a)
    {
        var entries = new OrderedDictionary<string, JinjaValue>(StringComparer.Ordinal);
        if (a.Positional.Count > 0 && a.Positional[0] is JinjaDict d)
            foreach (var (k, v) in d.Entries) entries[k] = v;
        foreach (var (k, v) in a.Keywords)
            entries[k] = v;
        return new JinjaNamespace(entries);
    }

    /// <summary>The strftime codes templates use for "today's date" (%Y %m %d %b %B %H %M %%).</summary>
    private static string Strftime(DateTimeOffset now, string format)
    {
        var sb = new System.Text.StringBuilder();
        for (int i = 0; i < format.Length; i++)
        {
            if (format[i] != '%' || i + 1 >= format.Length)
            {
                sb.Append(format[i]);
                continue;
            }
            char code = format[++i];
            sb.Append(code switch
            {
                'Y' => now.Year.ToString("D4", CultureInfo.InvariantCulture),
                'm' => now.Month.ToString("D2", CultureInfo.InvariantCulture),
                'd' => now.Day.ToString("D2", CultureInfo.InvariantCulture),
                'b' => now.ToString("MMM", CultureInfo.InvariantCulture),
                'B' => now.ToString("MMMM", CultureInfo.InvariantCulture),
                'H' => now.Hour.ToString("D2", CultureInfo.InvariantCulture),
                'M' => now.Minute.ToString("D2", CultureInfo.InvariantCulture),
                '%' => "%",
                _ => "%" + code,
            });
        }
        return sb.ToString();
    }
}
