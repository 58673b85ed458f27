using Livrable.Diagnostics;
using Livrable.Dockerfile;

namespace Livrable.Build.Dockerfile;

/// <summary>
/// Variable expansion as the build uses it: the three modes of <see cref="ShellExpander"/>
/// (https://docs.docker.com/reference/dockerfile/#environment-replacement). An interface so that the steps' config
/// semantics can be tested with a small fake, apart from the lexer.
/// </summary>
internal interface IWordExpander
{
    /// <summary>One word, quotes removed (WORKDIR, USER, ENV, LABEL, COPY sources...).</summary>
    string Word(string word, IReadOnlyDictionary<string, string> environment, SourceSpan span);

    /// <summary>The same with word splitting (EXPOSE).</summary>
    IReadOnlyList<string> Words(string word, IReadOnlyDictionary<string, string> environment, SourceSpan span);

    /// <summary>A heredoc body of COPY or ADD: only <c>$</c> and <c>\</c> processed.</summary>
    string Raw(string text, IReadOnlyDictionary<string, string> environment, SourceSpan span);
}

/// <summary>The expander of the Dockerfile frontend, with the file's escape character.</summary>
internal sealed class ShellWordExpander(char escape) : IWordExpander
{
    private readonly ShellExpander _shell = new(escape);

    public string Word(string word, IReadOnlyDictionary<string, string> environment, SourceSpan span) => _shell.ProcessWord(word, environment, span);

    public IReadOnlyList<string> Words(string word, IReadOnlyDictionary<string, string> environment, SourceSpan span) => _shell.ProcessWords(word, environment, span);

    public string Raw(string text, IReadOnlyDictionary<string, string> environment, SourceSpan span) => _shell.ProcessRaw(text, environment, span);
}
