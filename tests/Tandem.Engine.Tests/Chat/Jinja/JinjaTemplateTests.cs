using Tandem.Engine.Chat.Jinja;

namespace Tandem.Engine.Tests.Chat.Jinja;

/// <summary>
/// The interpreter feature by feature. Each expected output is what @huggingface/jinja renders for the same
/// template and variables (checked with node when these were written); the few places where Tandem follows Python's
/// Jinja instead say so.
/// </summary>
public sealed class JinjaTemplateTests
{
    private static string Render(string template, string variablesJson = "{}")
    {
        var variables = ((JinjaDict)JinjaJson.Parse(variablesJson)).Entries.ToDictionary(p => p.Key, p => p.Value);
        return JinjaTemplate.Parse(template).Render(variables);
    }

    [Theory]
    [InlineData("{% if x %}yes{% elif y %}maybe{% else %}no{% endif %}", "{\"x\": false, \"y\": 1}", "maybe")]
    [InlineData("{% for i in [1, 2, 3] %}{{ loop.index }}/{{ loop.index0 }}/{{ loop.revindex }}/{{ loop.first }}/{{ loop.last }}/{{ loop.length }} {% endfor %}", "{}",
        "1/0/3/true/false/3 2/1/2/false/false/3 3/2/1/false/true/3 ")]
    [InlineData("{% for i in xs if i > 1 %}{{ i }}{{ loop.length }}{% else %}empty{% endfor %}", "{\"xs\": [1, 2, 3]}", "2232")]
    [InlineData("{% for i in [] %}x{% else %}empty{% endfor %}", "{}", "empty")]
    [InlineData("{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 4 %}{% break %}{% endif %}{{ i }}{% endfor %}", "{}", "013")]
    [InlineData("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}", "{\"d\": {\"b\": 1, \"a\": 2}}", "b=1;a=2;")]
    [InlineData("{% for m in ms %}{{ loop.previtem | default('-') }}{{ m }}{{ loop.nextitem | default('-') }} {% endfor %}", "{\"ms\": [\"a\", \"b\"]}", "-ab ab- ")]
    [InlineData("{% set x = 1 %}{% for i in [1] %}{% set x = 2 %}{% endfor %}{{ x }}", "{}", "1")]
    [InlineData("{% set ns = namespace(x=1, found=false) %}{% for i in [1, 2] %}{% set ns.x = ns.x + i %}{% endfor %}{{ ns.x }}{{ ns.found }}", "{}", "4false")]
    [InlineData("{% set a, b = [1, 2] %}{{ b }}{{ a }}", "{}", "21")]
    [InlineData("{% set block %}in {{ 'side' }}{% endset %}[{{ block }}]", "{}", "[in side]")]
    [InlineData("{% macro greet(name, greeting='Hello') %}{{ greeting }}, {{ name }}!{% endmacro %}{{ greet('Ann') }} {{ greet('Bo', greeting='Hi') }}", "{}", "Hello, Ann! Hi, Bo!")]
    [InlineData("{% macro wrap() %}<{{ caller() }}>{% endmacro %}{% call wrap() %}body{% endcall %}", "{}", "<body>")]
    [InlineData("{% macro list(items) %}{% for i in items %}{{ caller(i) }}{% endfor %}{% endmacro %}{% call(x) list([1, 2]) %}[{{ x }}]{% endcall %}", "{}", "[1][2]")]
    [InlineData("{% filter upper %}shout {{ 'this' }}{% endfilter %}", "{}", "SHOUT THIS")]
    [InlineData("a{# a comment #}b", "{}", "ab")]
    [InlineData("{% generation %}kept{% endgeneration %}", "{}", "kept")]
    public void Statements(string template, string variables, string expected) => Assert.Equal(expected, Render(template, variables));

    [Theory]
    [InlineData("{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 7 // 2 }} {{ 7 % 3 }} {{ 2 ** 10 }} {{ 7 / 2 }} {{ 4 / 2 }}", "7 9 3 1 1024 3.5 2.0")]
    [InlineData("{{ 'a' ~ 1 ~ 2.5 }}|{{ 'x' + 'y' }}|{{ [1] + [2] }}", "a12.5|xy|[1, 2]")]
    [InlineData("{{ 'b' in 'abc' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 3 not in [1] }}", "true true true true")]
    [InlineData("{{ 1 == 1.0 }} {{ 'a' != 'b' }} {{ 1 < 2 and 2 <= 2 }} {{ not true or false }}", "true true true false")]
    [InlineData("{{ 'yes' if 1 > 2 else 'no' }}|{{ 'shown' if true }}|{{ 'hidden' if false }}|", "no|shown||")]
    [InlineData("{{ x | default('d') }} {{ '' | default('d', true) }} {{ none }}{{ undefined_thing }}.", "d d .")]
    [InlineData("{{ [1, 2, 3, 4][1:3] }} {{ [1, 2, 3][::-1] }} {{ 'hello'[1:-1] }} {{ 'hello'[-1] }} {{ [1, 2, 3][-2:] }}", "[2, 3] [3, 2, 1] ell o [2, 3]")]
    [InlineData("{{ -3 | abs }} {{ 3.7 | int }} {{ '42' | int + 1 }} {{ 2 | float }} {{ 1.5 }}", "3 3 43 2.0 1.5")]
    public void Expressions(string template, string expected) => Assert.Equal(expected, Render(template));

    [Theory]
    [InlineData("{{ 'Hi There' | upper }} {{ 'Hi' | lower }} {{ 'hello world' | title }} {{ 'ab' | capitalize }} {{ '  x  ' | trim }}", "HI THERE hi Hello World Ab x")]
    [InlineData("{{ [3, 1, 2] | sort }} {{ ['b', 'A', 'c'] | sort }} {{ [1, 2] | reverse | list }} {{ [1, 1, 2] | unique | list }}", "[1, 2, 3] [\"A\", \"b\", \"c\"] [2, 1] [1, 2]")]
    [InlineData("{{ [1, 2, 3] | length }} {{ 'abc' | length }} {{ [1, 2] | first }} {{ [1, 2] | last }} {{ [1, 2, 3] | join(', ') }}", "3 3 1 2 1, 2, 3")]
    [InlineData("{{ ms | selectattr('role', 'equalto', 'user') | map(attribute='content') | join('+') }}|{{ ms | rejectattr('role', 'equalto', 'user') | list | length }}", "a+c|1")]
    [InlineData("{{ ms | map(attribute='missing', default='?') | join }}", "???")]
    [InlineData("{{ {'b': 1, 'a': [1, 'x', none, true]} | tojson }}", "{\"b\": 1, \"a\": [1, \"x\", null, true]}")]
    [InlineData("{{ {'a': {'b': [1, 2]}} | tojson(indent=2) }}", "{\n  \"a\": {\n    \"b\": [\n      1,\n      2\n    ]\n  }\n}")]
    [InlineData("{{ {'b': 'é', 'a': 1} | tojson(sort_keys=true, ensure_ascii=true) }}", "{\"a\": 1, \"b\": \"\\u00e9\"}")]
    [InlineData("{{ 'é\"\\n' | tojson }}", "\"é\\\"\\n\"")]
    [InlineData("{{ {'b': 2, 'a': 1} | dictsort }} {{ {'a': 1} | items | list }}", "[[\"a\", 1], [\"b\", 2]] [[\"a\", 1]]")]
    [InlineData("{{ 'line1\nline2\n\nline4' | indent(2) }}", "line1\n  line2\n\n  line4")]
    [InlineData("{{ 'aaa' | replace('a', 'b', 2) }} {{ 'a-b' | replace('-', '+') }}", "bba a+b")]
    public void Filters(string template, string expected) => Assert.Equal(expected, Render(template,
        "{\"ms\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"assistant\", \"content\": \"b\"}, {\"role\": \"user\", \"content\": \"c\"}]}"));

    [Theory]
    [InlineData("{{ x is defined }} {{ y is defined }} {{ y is undefined }} {{ n is none }} {{ x is string }} {{ 1 is number }} {{ 1 is integer }}", "true false true true true true true")]
    [InlineData("{{ 3 is odd }} {{ 4 is even }} {{ d is mapping }} {{ [1] is iterable }} {{ true is boolean }} {{ 'ab' is lower }} {{ x is not none }}", "true true true true true true true")]
    public void Tests(string template, string expected) => Assert.Equal(expected, Render(template, "{\"x\": \"s\", \"n\": null, \"d\": {}}"));

    [Theory]
    [InlineData("{{ '  hi  '.strip() }}|{{ '\nhi'.lstrip() }}|{{ 'hi\n'.rstrip() }}", "hi|hi|hi")]
    [InlineData("{{ 'a,b,,c'.split(',') }} {{ ' a  b '.split() }} {{ 'a b c'.split(' ', 1) }}", "[\"a\", \"b\", \"\", \"c\"] [\"a\", \"b\"] [\"a\", \"b c\"]")]
    [InlineData("{{ 'hello'.startswith('he') }} {{ 'hello'.endswith(('x', 'lo')) }} {{ 'Hello'.upper() }} {{ 'a'.replace('a', 'b') }}", "true true HELLO b")]
    [InlineData("{{ d.get('a') }} {{ d.get('zz', 'dflt') }} {{ d.keys() | list }} {{ d.values() | list }}", "1 dflt [\"a\"] [1]")]
    public void Methods(string template, string expected) => Assert.Equal(expected, Render(template, "{\"d\": {\"a\": 1}}"));

    /// <summary>Python's Jinja features @huggingface/jinja lacks (it ignores strip's argument, has no test arguments or map by filter, and selectattr skips missing attributes): Tandem follows Python.</summary>
    [Theory]
    [InlineData("{{ 'xxhixx'.strip('x') }}|{{ '--a'.lstrip('-') }}", "hi|a")]
    [InlineData("{{ 6 is divisibleby(3) }} {{ 'a' is eq('a') }} {{ [1, 5] | select('odd') | list }}", "true true [1, 5]")]
    [InlineData("{{ ['a', 'b'] | map('upper') | join }}", "AB")]
    [InlineData("{{ [{'a': 1}, {'b': 2}] | selectattr('a', 'undefined') | list | length }}", "1")]
    public void Jinja_features_huggingface_jinja_lacks(string template, string expected) => Assert.Equal(expected, Render(template));

    /// <summary>Whitespace control as transformers sets it: trim_blocks, lstrip_blocks, '-' markers, one trailing newline dropped.</summary>
    [Theory]
    [InlineData("{% if true %}\n  yes\n{% endif %}\n", "  yes\n")]
    [InlineData("  {% if true %}x{% endif %}", "x")]
    [InlineData("a   {{- 'b' -}}   c", "abc")]
    [InlineData("a\n{%- if true -%}\n  b  \n{%- endif %}", "ab")]
    [InlineData("{{ 'x' }}\n{{ 'y' }}", "x\ny")]
    public void Whitespace_control(string template, string expected) => Assert.Equal(expected, Render(template));

    [Fact]
    public void Raise_exception_is_a_raised_error_with_the_templates_message()
    {
        var e = Assert.Throws<JinjaException>(() => Render("{{ raise_exception('Roles must alternate') }}"));
        Assert.True(e.Raised);
        Assert.Equal("Roles must alternate", e.Message);
    }

    [Theory]
    [InlineData("{% if x %}no end", "endif")]
    [InlineData("{{ 'unclosed }}", "not closed")]
    [InlineData("{% unknownstatement %}", "unknown statement")]
    [InlineData("{{ 1 | nosuchfilter }}", "unknown filter 'nosuchfilter'")]
    [InlineData("{{ 1 is nosuchtest }}", "unknown test 'nosuchtest'")]
    [InlineData("{{ none + 1 }}", "none")]
    [InlineData("{{ 'a'.nosuch() }}", "not callable")]
    [InlineData("{{ x.y }}", "undefined value")]
    [InlineData("{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}", "nested more than")]
    public void Faults_are_jinja_exceptions_that_say_what(string template, string fragment)
    {
        var e = Assert.Throws<JinjaException>(() => Render(template));
        Assert.False(e.Raised);
        Assert.Contains(fragment, e.Message);
    }
}
