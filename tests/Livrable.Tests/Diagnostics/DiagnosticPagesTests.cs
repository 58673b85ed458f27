using System.Reflection;
using System.Text;
using System.Xml.Linq;
using Livrable.Diagnostics;
using Livrable.MSBuild;
using Livrable.Tests.Infrastructure;
using Livrable.Tests.MSBuild;
using Microsoft.Build.Utilities;
using Xunit;

namespace Livrable.Tests.Diagnostics;

/// <summary>
/// The help pages of the <c>LIV</c> codes (docs/diagnostics) are generated from the one table,
/// <see cref="DiagnosticCodes"/>: each constant's value, name, <c>[Obsolete]</c> message and doc comment (read from
/// the task assembly's XML documentation). The pages in the repository must be what the generator writes, every code's
/// help link must land on a heading of a page that exists, and the task's errors and warnings must carry that link.
/// </summary>
public sealed class DiagnosticPagesTests
{
    /// <summary>The command that rewrites docs/diagnostics from the table.</summary>
    public const string RegenerateCommand =
        "LIVRABLE_WRITE_DIAGNOSTIC_PAGES=1 dotnet test tests/Livrable.Tests -c Release --filter FullyQualifiedName~DiagnosticPagesTests";

    private static readonly string PagesDirectory = Path.Combine(TestRepository.Root, "docs", "diagnostics");

    /// <summary>The groups of the table, as its doc comment names them: the first digit of the code.</summary>
    private static readonly Dictionary<char, string> Groups = new()
    {
        ['1'] = "Dockerfile and build context",
        ['2'] = "MSBuild inputs and the .NET SDK's container properties",
        ['3'] = "Registries and authentication",
        ['4'] = "Images, layers, blobs, cache and the state folder",
        ['5'] = "RUN",
        ['6'] = "Outputs and supply chain",
        ['9'] = "Internal",
    };

    [Fact]
    public void ThePagesAreWhatTheTableGenerates()
    {
        var expected = Generate();
        if (Environment.GetEnvironmentVariable("LIVRABLE_WRITE_DIAGNOSTIC_PAGES") == "1")
        {
            Directory.CreateDirectory(PagesDirectory);
            foreach (var stale in Directory.GetFiles(PagesDirectory, "*.md").Where(f => !expected.ContainsKey(Path.GetFileName(f))))
                File.Delete(stale);
            foreach (var (file, text) in expected) File.WriteAllText(Path.Combine(PagesDirectory, file), text);
        }
        string hint = $"docs/diagnostics is out of date with src/Tasks/Diagnostics/DiagnosticCodes.cs; regenerate it: {RegenerateCommand}";
        Assert.True(Directory.Exists(PagesDirectory), hint);
        var present = Directory.GetFiles(PagesDirectory, "*.md").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        Assert.True(expected.Keys.Order(StringComparer.Ordinal).SequenceEqual(present), $"{hint} (pages: {string.Join(", ", present)})");
        foreach (var (file, text) in expected)
            Assert.True(text == File.ReadAllText(Path.Combine(PagesDirectory, file)), $"{file}: {hint}");
    }

    [Fact]
    public void EveryCodesHelpLinkIsAHeadingOfAPageThatExists()
    {
        Assert.NotEmpty(DiagnosticCodes.All);
        foreach (string code in DiagnosticCodes.All)
        {
            string link = DiagnosticHelp.Link(code)!;
            Assert.StartsWith(DiagnosticHelp.BaseUrl, link);
            string[] parts = link[DiagnosticHelp.BaseUrl.Length..].Split('#');
            string page = Path.Combine(PagesDirectory, parts[0]);
            Assert.True(File.Exists(page), $"{code}: {link} names {page}, which does not exist; {RegenerateCommand}");
            // GitHub's anchor for a heading: lowercased, spaces to '-'.
            var anchors = File.ReadLines(page).Where(l => l.StartsWith("## ", StringComparison.Ordinal))
                .Select(l => l[3..].Trim().ToLowerInvariant().Replace(' ', '-'));
            Assert.True(anchors.Contains(parts[1]), $"{code}: no heading for #{parts[1]} in {page}; {RegenerateCommand}");
        }
        Assert.Null(DiagnosticHelp.Link("LIV0000"));
        Assert.Null(DiagnosticHelp.Link(null));
    }

    /// <summary>
    /// The targets' own errors and warnings (src/Sdk/build) link to their code's heading as the task's do: each
    /// <c>Error</c> or <c>Warning</c> with a <c>LIV</c> code is a known code and carries
    /// <c>HelpLink="$(_LivrableHelpBase)PAGE#code"</c>, and the props' base is <see cref="DiagnosticHelp.BaseUrl"/>.
    /// </summary>
    [Fact]
    public void TheTargetsErrorsAndWarningsCarryTheirCodesHelpLink()
    {
        string build = Path.Combine(TestRepository.Root, "src", "Sdk", "build");
        var props = XDocument.Load(Path.Combine(build, "Livrable.Sdk.props"));
        Assert.Equal(DiagnosticHelp.BaseUrl, props.Descendants().Single(e => e.Name.LocalName == "_LivrableHelpBase").Value);
        int count = 0;
        foreach (string file in Directory.GetFiles(build, "*.targets"))
        {
            foreach (var element in XDocument.Load(file).Descendants().Where(e => e.Name.LocalName is "Error" or "Warning"))
            {
                string? code = (string?)element.Attribute("Code");
                if (code is null || !code.StartsWith("LIV", StringComparison.Ordinal)) continue;
                count++;
                Assert.True(DiagnosticCodes.IsKnown(code), $"{Path.GetFileName(file)}: {code} is not in DiagnosticCodes");
                Assert.Equal($"$(_LivrableHelpBase){DiagnosticHelp.Page(code)}#{code.ToLowerInvariant()}", (string?)element.Attribute("HelpLink"));
            }
        }
        Assert.True(count >= 17, $"only {count} coded errors and warnings found in {build}");
    }

    [Fact]
    public void TheTasksErrorsAndWarningsCarryTheirCodesHelpLink()
    {
        var engine = new BuildContainerImageTests.FakeEngine();
        var log = new TaskLoggingHelper(engine, "BuildContainerImage");
        MSBuildLogger.Error(log, new LivrableException(DiagnosticCodes.InvalidItem, "bad item"));
        new MSBuildLogger(log).Warning(DiagnosticCodes.MaintainerDeprecated, "MAINTAINER", new SourceSpan("Dockerfile", 2, 1));

        var error = Assert.Single(engine.Errors);
        Assert.Equal(DiagnosticCodes.InvalidItem, error.Code);
        Assert.Equal(DiagnosticHelp.BaseUrl + "LIV2xxx.md#" + DiagnosticCodes.InvalidItem.ToLowerInvariant(), error.HelpLink);
        var warning = Assert.Single(engine.Warnings);
        Assert.Equal(DiagnosticHelp.BaseUrl + "LIV1xxx.md#liv1032", warning.HelpLink);
    }

    /// <summary>File name to text: one page per group, and README.md listing the groups.</summary>
    private static Dictionary<string, string> Generate()
    {
        string header = "<!-- Generated from src/Tasks/Diagnostics/DiagnosticCodes.cs; do not edit. Regenerate:\n     "
            + RegenerateCommand + " -->\n\n";
        var entries = Entries().OrderBy(e => e.Code, StringComparer.Ordinal).ToList();
        var pages = new Dictionary<string, string>();
        var index = new StringBuilder(header)
            .Append("# Diagnostics\n\n")
            .Append("Every error and warning of Livrable has a `LIV` code; its help link leads to its heading here. ")
            .Append("A retired code is never reused: its heading stays, saying what replaced it.\n\n")
            .Append("| Codes | About | Count |\n|---|---|---|\n");
        foreach (var group in entries.GroupBy(e => e.Code[3]))
        {
            Assert.True(Groups.TryGetValue(group.Key, out string? title), $"LIV{group.Key}xxx has no title in {nameof(DiagnosticPagesTests)}.{nameof(Groups)}");
            string file = DiagnosticHelp.Page(group.First().Code);
            index.Append($"| [LIV{group.Key}xxx]({file}) | {title} | {group.Count()} |\n");
            var page = new StringBuilder(header).Append($"# LIV{group.Key}xxx: {title}\n");
            foreach (var e in group)
            {
                page.Append($"\n## {e.Code}\n\n");
                if (e.Retired is not null) page.Append($"**Retired.** {e.Retired}\n\n");
                page.Append(e.Summary).Append('\n');
                page.Append($"\nName in the code: `DiagnosticCodes.{e.Name}`.\n");
            }
            pages[file] = page.ToString();
        }
        pages["README.md"] = index.ToString();
        return pages;
    }

    private sealed record Entry(string Code, string Name, string Summary, string? Retired);

    /// <summary>The table's constants, each with its doc comment as Markdown.</summary>
    private static IEnumerable<Entry> Entries()
    {
        string xmlPath = Path.ChangeExtension(typeof(DiagnosticCodes).Assembly.Location, ".xml");
        Assert.True(File.Exists(xmlPath), $"{xmlPath}: the task assembly's XML documentation is missing");
        var members = XDocument.Load(xmlPath, LoadOptions.PreserveWhitespace).Descendants("member")
            .ToDictionary(m => (string)m.Attribute("name")!, m => m.Element("summary"));
        foreach (var field in typeof(DiagnosticCodes).GetFields(BindingFlags.Public | BindingFlags.Static).Where(f => f.IsLiteral && f.FieldType == typeof(string)))
        {
            string key = $"F:{typeof(DiagnosticCodes).FullName}.{field.Name}";
            Assert.True(members.TryGetValue(key, out var summary) && summary is not null, $"{field.Name} has no doc comment");
            yield return new Entry((string)field.GetRawConstantValue()!, field.Name, Markdown(summary!),
                field.GetCustomAttribute<ObsoleteAttribute>()?.Message);
        }
    }

    /// <summary>A doc comment's text as one Markdown paragraph: <c>&lt;c&gt;</c> as code, cross-references by name.</summary>
    private static string Markdown(XElement element)
    {
        var text = new StringBuilder();
        foreach (var node in element.Nodes())
        {
            text.Append(node switch
            {
                XText t => t.Value.Replace("<", "&lt;", StringComparison.Ordinal),
                XElement { Name.LocalName: "c" } c => Code(c.Value),
                XElement e when e.Attribute("cref") is { } cref => Code(cref.Value[(cref.Value.LastIndexOf('.') + 1)..]),
                XElement e when e.Attribute("langword") is { } word => Code(word.Value),
                XElement e => Markdown(e),
                _ => "",
            });
        }
        // A code span holding a backtick needs a longer fence (CommonMark).
        static string Code(string value) => value.Contains('`') ? "`` " + value + " ``" : "`" + value + "`";
        return string.Join(' ', text.ToString().Split((char[])[' ', '\n', '\r', '\t'], StringSplitOptions.RemoveEmptyEntries));
    }
}
