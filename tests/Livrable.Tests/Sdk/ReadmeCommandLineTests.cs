using System.Text.RegularExpressions;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Sdk;

/// <summary>
/// Every command line of README.md and src/Sdk/README.md (indented blocks, <c>bash</c>/<c>sh</c> fences, and inline
/// <c>`dotnet ...`</c> spans) pasted into bash: it parses (<c>bash -n</c>), and each <c>dotnet</c> command's
/// <c>-p:</c> arguments, as bash hands them over, are ones MSBuild takes. MSBuild's <c>-p</c> ends a property at an
/// unquoted ';' or ',', so <c>-p:ContainerImageTags="1.2.0;latest"</c> (bash removes the quotes) is MSB1006, and
/// <c>\"1.2.0;latest\"</c> is two commands to bash; the value must reach MSBuild quoted (<c>'"1.2.0;latest"'</c>) or
/// escaped (<c>%3B</c>). Each line must also be one dotnet command, not two.
/// </summary>
public sealed partial class ReadmeCommandLineTests
{
    public static TheoryData<string, string> CommandLines()
    {
        var data = new TheoryData<string, string>();
        foreach (string file in new[] { "README.md", Path.Combine("src", "Sdk", "README.md") })
        {
            bool fenced = false, shellFence = false;
            foreach (var (line, number) in File.ReadAllLines(Path.Combine(TestRepository.Root, file)).Select((l, i) => (l, i + 1)))
            {
                if (line.TrimStart().StartsWith("```", StringComparison.Ordinal))
                {
                    fenced = !fenced;
                    shellFence = fenced && line.Trim() is "```bash" or "```sh" or "```shell";
                    continue;
                }
                if (fenced && shellFence && line.Trim().Length > 0) data.Add($"{file}:{number}", line.Trim());
                else if (!fenced && line.StartsWith("    ", StringComparison.Ordinal) && line.Trim().Length > 0 && !IsOutput(line.Trim())) data.Add($"{file}:{number}", line.Trim());
                else if (!fenced)
                    foreach (Match m in InlineDotnet().Matches(line)) data.Add($"{file}:{number}", m.Groups[1].Value);
            }
        }
        return data;
    }

    /// <summary>An indented line that shows what a command prints, not a command.</summary>
    private static bool IsOutput(string line) => line.StartsWith("Up to date:", StringComparison.Ordinal) || line.StartsWith("Built ", StringComparison.Ordinal);

    [GeneratedRegex(@"`(dotnet (?:publish|msbuild|build|pack|clean|test|run|new)\b[^`]*)`")]
    private static partial Regex InlineDotnet();

    [Fact]
    public void TheReadmesHaveCommandLines() => Assert.True(CommandLines().Count() > 10);

    [Theory]
    [MemberData(nameof(CommandLines))]
    public async Task RunsInBash(string where, string commandLine)
    {
        var syntax = await Tools.RunAsync("bash", ["-n", "-c", commandLine]);
        Assert.True(syntax.ExitCode == 0, $"{where}: bash cannot parse `{commandLine}`: {syntax.Output}");
        if (!commandLine.StartsWith("dotnet ", StringComparison.Ordinal)) return;

        // What bash gives dotnet: a function in its place prints each argument, NUL-terminated, then a \x01.
        var words = await Tools.RunAsync("bash", ["-c", "dotnet() { printf '%s\\0' \"$@\"; printf '\\1'; }; " + commandLine]);
        Assert.True(words.ExitCode == 0 && words.Stderr.Length == 0, $"{where}: `{commandLine}` in bash: {words.Output}");
        Assert.True(words.Stdout.Count(c => c == '\x01') == 1, $"{where}: `{commandLine}` runs dotnet {words.Stdout.Count(c => c == '\x01')} times in bash");
        foreach (string argument in words.Stdout.TrimEnd('\x01').Split('\0'))
        {
            var property = Regex.Match(argument, "^[-/](?:p|property):([^=]+)=(.*)$", RegexOptions.IgnoreCase);
            if (!property.Success) continue;
            string value = property.Groups[2].Value;
            bool quoted = value.Length >= 2 && value[0] == '"' && value[^1] == '"';
            Assert.False(!quoted && (value.Contains(';') || value.Contains(',')),
                $"{where}: `{commandLine}` gives MSBuild `{argument}`, whose unquoted ';' or ',' ends the property (MSB1006); write -p:{property.Groups[1].Value}='\"{value}\"'.");
        }
    }
}
