// TEMPORARY: stubs of the df-parser contracts (docs/dockerfile-frontend.md) so that df-build compiles before that
// branch lands. Drop this file on merge.
using Livrable.Diagnostics;

namespace Livrable.Dockerfile;

public static class DockerfileParser
{
    public static DockerfileDocument Parse(string path, string text, ILogger logger) => throw new NotImplementedException();

    public static Instruction ParseTrigger(string trigger, SourceSpan span, ILogger logger) => throw new NotImplementedException();
}

public sealed class ShellExpander
{
    public ShellExpander(char escape = '\\') { }

    public string ProcessWord(string word, IReadOnlyDictionary<string, string> environment, SourceSpan span) => throw new NotImplementedException();

    public IReadOnlyList<string> ProcessWords(string word, IReadOnlyDictionary<string, string> environment, SourceSpan span) => throw new NotImplementedException();

    public string ProcessRaw(string text, IReadOnlyDictionary<string, string> environment, SourceSpan span) => throw new NotImplementedException();
}
