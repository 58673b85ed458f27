using System.Globalization;
using System.Text.RegularExpressions;
using Livrable.Diagnostics;
using Livrable.Go;

namespace Livrable.Dockerfile;

/// <summary>
/// The second phase (BuildKit's <c>instructions.ParseInstruction</c>, checklist section 3): one node to one checked
/// instruction record. Flags are checked against what each instruction declares, argument counts and forms are
/// enforced with BuildKit's messages, and values stay raw for the build to expand.
/// </summary>
internal static partial class InstructionChecker
{
    [GeneratedRegex(@"^[a-z][a-z0-9_.\-]*$")]
    private static partial Regex StageName();

    [GeneratedRegex(@"^[\s]*ONBUILD[\s]*", RegexOptions.IgnoreCase)]
    private static partial Regex OnbuildPrefix();

    [GeneratedRegex(@"""[a-z]:\\")]
    private static partial Regex WindowsPathInJson();

    /// <summary>Checks <paramref name="node"/> and returns its record.</summary>
    public static Instruction Check(RawInstruction node, DockerfileWarnings warnings)
    {
        var span = node.Line.SpanFrom(node.KeywordOffset);
        var text = node.Original.Trim();
        return node.Keyword switch
        {
            "from" => CheckFrom(node, span, text, warnings),
            "run" => CheckRun(node, span, text),
            "cmd" => new CmdInstruction(span, text, CommandWithoutFlags(node)),
            "entrypoint" => new EntrypointInstruction(span, text, CommandWithoutFlags(node)),
            "shell" => CheckShell(node, span, text),
            "label" => new LabelInstruction(span, text, KeyValues(node, "LABEL", warnings)),
            "env" => new EnvInstruction(span, text, KeyValues(node, "ENV", warnings)),
            "maintainer" => CheckMaintainer(node, span, text, warnings),
            "expose" => new ExposeInstruction(span, text, AtLeastOne(node, "EXPOSE").Select(a => a.Value).ToList()),
            "copy" => CheckCopy(node, span, text),
            "add" => CheckAdd(node, span, text),
            "volume" => CheckVolume(node, span, text),
            "user" => new UserInstruction(span, text, ExactlyOne(node, "USER")),
            "workdir" => new WorkdirInstruction(span, text, ExactlyOne(node, "WORKDIR")),
            "stopsignal" => new StopsignalInstruction(span, text, ExactlyOne(node, "STOPSIGNAL")),
            "arg" => CheckArg(node, span, text),
            "onbuild" => CheckOnbuild(node, span, text, warnings),
            "healthcheck" => CheckHealthcheck(node, span, text),
            _ => throw UnknownInstruction(node),
        };
    }

    /// <summary>
    /// <c>unknown instruction: X</c>, with BuildKit's suggestion (<c>util/suggest</c>): the first keyword at an edit
    /// distance below 3, in the case the keyword was written in.
    /// </summary>
    private static LivrableException UnknownInstruction(RawInstruction node)
    {
        var written = node.KeywordAsWritten;
        var message = $"unknown instruction: {written}";
        var best = LineParsers.Keywords
            .Select(k => (Keyword: k, Distance: Levenshtein(node.Keyword, k)))
            .Where(x => x.Distance < 3)
            .OrderBy(x => x.Distance).ThenBy(x => x.Keyword, StringComparer.Ordinal)
            .Select(x => x.Keyword)
            .FirstOrDefault();
        if (best is not null)
        {
            var suggestion = written == written.ToLowerInvariant() ? best
                : written == written.ToUpperInvariant() ? best.ToUpperInvariant() : best;
            message += $" (did you mean {suggestion}?)";
        }
        return new LivrableException(DiagnosticCodes.UnknownInstruction, message, node.Line.SpanAt(node.KeywordOffset, written.Length));
    }

    private static int Levenshtein(string a, string b)
    {
        var previous = Enumerable.Range(0, b.Length + 1).ToArray();
        for (var i = 1; i <= a.Length; i++)
        {
            var current = new int[b.Length + 1];
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            previous = current;
        }
        return previous[b.Length];
    }

    private static BuilderFlags NoFlags(RawInstruction node)
    {
        var flags = new BuilderFlags(node);
        flags.Parse();
        return flags;
    }

    private static LivrableException Error(string code, string message, SourceSpan span) => new(code, message, span);

    private static SourceSpan SpanOf(RawInstruction node, Token token) => node.Line.SpanAt(token.Offset, token.Value.Length);

    private static SourceSpan KeywordSpan(RawInstruction node) => node.Line.SpanAt(node.KeywordOffset, node.KeywordAsWritten.Length);

    private static List<Token> AtLeastOne(RawInstruction node, string keyword)
    {
        if (node.Arguments.Count == 0)
            throw Error(DiagnosticCodes.InstructionArgumentCount, $"{keyword} requires at least one argument", KeywordSpan(node));
        NoFlags(node);
        return node.Arguments;
    }

    private static string ExactlyOne(RawInstruction node, string keyword)
    {
        if (node.Arguments.Count != 1)
            throw Error(DiagnosticCodes.InstructionArgumentCount, $"{keyword} requires exactly one argument", KeywordSpan(node));
        NoFlags(node);
        return node.Arguments[0].Value;
    }

    /// <summary>Exec form: the JSON strings; shell form: the rest of the line as one string (none when empty).</summary>
    private static CommandLine Command(RawInstruction node)
    {
        var args = node.Arguments.Select(a => a.Value).ToList();
        if (!node.IsJson && args.Count > 0)
            args = [string.Join(' ', args)];
        return new CommandLine(args, node.IsJson);
    }

    private static CommandLine CommandWithoutFlags(RawInstruction node)
    {
        NoFlags(node);
        return Command(node);
    }

    private static FromInstruction CheckFrom(RawInstruction node, SourceSpan span, string text, DockerfileWarnings warnings)
    {
        var args = node.Arguments;
        string? stageName = null;
        if (args.Count == 3 && args[1].Value.Equals("as", StringComparison.OrdinalIgnoreCase))
        {
            stageName = args[2].Value.ToLowerInvariant();
            if (!StageName().IsMatch(stageName))
                throw Error(DiagnosticCodes.InvalidStageName,
                    $"invalid name for build stage: {GoFormat.Quote(args[2].Value)}, name can't start with a number or contain symbols", SpanOf(node, args[2]));
            if (args[2].Value != stageName)
                warnings.Add(DiagnosticCodes.StageNameCasing, "StageNameCasing",
                    $"Stage name '{args[2].Value}' should be lowercase", SpanOf(node, args[2]));
            var keyword = node.KeywordAsWritten;
            var asWord = args[1].Value;
            if ((keyword == keyword.ToUpperInvariant() && asWord != asWord.ToUpperInvariant())
                || (keyword == keyword.ToLowerInvariant() && asWord != asWord.ToLowerInvariant()))
                warnings.Add(DiagnosticCodes.FromAsCasing, "FromAsCasing",
                    $"'{asWord}' and '{keyword}' keywords' casing do not match", SpanOf(node, args[1]));
            if (stageName is "scratch" or "context")
                warnings.Add(DiagnosticCodes.ReservedStageName, "ReservedStageName",
                    $"'{stageName}' is reserved and should not be used as a stage name", SpanOf(node, args[2]));
        }
        else if (args.Count != 1)
        {
            throw Error(DiagnosticCodes.InstructionArgumentCount, "FROM requires either one or three arguments",
                args.Count == 0 ? KeywordSpan(node) : SpanOf(node, args[Math.Min(1, args.Count - 1)]));
        }
        var flags = new BuilderFlags(node);
        flags.AddString("platform");
        flags.Parse();
        return new FromInstruction(span, text, args[0].Value, stageName, flags.String("platform"));
    }

    private static RunInstruction CheckRun(RawInstruction node, SourceSpan span, string text)
    {
        var flags = new BuilderFlags(node);
        flags.AddStrings("mount");
        flags.AddString("network");
        flags.AddString("security");
        flags.AddStrings("device");
        flags.Parse();
        if (flags.Strings("device").Count > 0)
            throw Error(DiagnosticCodes.UnsupportedDockerfileFeature,
                "device feature is only supported in Dockerfile frontend 1.14.0-labs or later", flags.SpanOf("device"));
        var network = flags.String("network");
        if (network is not (null or "default" or "none" or "host"))
            throw Error(DiagnosticCodes.InvalidInstructionFlag, $"invalid network mode {GoFormat.Quote(network)} (default, none or host)", flags.SpanOf("network"));
        var security = flags.String("security");
        if (security is not (null or "sandbox" or "insecure"))
            throw Error(DiagnosticCodes.InvalidInstructionFlag, $"security {GoFormat.Quote(security)} is not valid (sandbox or insecure)", flags.SpanOf("security"));
        foreach (string mount in flags.Strings("mount"))
            MountFlag.Check(mount, flags.SpanOf("mount"));
        return new RunInstruction(span, text, Command(node), node.Heredocs.Select(h => h.ToHeredoc()).ToList(),
            flags.Strings("mount").ToList(), network, security);
    }

    private static ShellInstruction CheckShell(RawInstruction node, SourceSpan span, string text)
    {
        NoFlags(node);
        if (node.Arguments.Count == 0)
            throw Error(DiagnosticCodes.InstructionArgumentCount, "SHELL requires at least one argument", KeywordSpan(node));
        if (!node.IsJson)
        {
            var extra = "";
            var rest = node.Line.Text[node.ArgumentsOffset..].Trim().ToLowerInvariant();
            // Windows paths with single backslashes are the usual reason a JSON array does not decode.
            if (WindowsPathInJson().IsMatch(rest) && !rest.Contains(@"\\", StringComparison.Ordinal) && rest.Contains('[') && rest.Contains(']'))
                extra = $". It looks like '{rest}' includes a file path without an escaped back-slash. JSON requires back-slashes to be escaped such as [\"c:\\\\path\\\\to\\\\file.exe\", \"/parameter\"]";
            throw Error(DiagnosticCodes.ShellNotJsonForm, "SHELL requires the arguments to be in JSON form" + extra,
                node.Line.SpanAt(node.ArgumentsOffset));
        }
        return new ShellInstruction(span, text, node.Arguments.Select(a => a.Value).ToList());
    }

    private static List<KeyValue> KeyValues(RawInstruction node, string keyword, DockerfileWarnings warnings)
    {
        NoFlags(node);
        var args = node.Arguments;
        if (args.Count == 0)
            throw Error(DiagnosticCodes.InstructionArgumentCount, $"{keyword} requires at least one argument", KeywordSpan(node));
        var result = new List<KeyValue>();
        for (var i = 0; i + 1 < args.Count; i += 2)
        {
            if (args[i].Value.Length == 0)
                throw Error(DiagnosticCodes.InvalidKeyValuePair, $"{keyword} names can not be blank", SpanOf(node, args[i]));
            result.Add(new KeyValue(args[i].Value, args[i + 1].Value));
        }
        if (node.IsLegacyKeyValue)
            warnings.Add(DiagnosticCodes.LegacyKeyValueFormat, "LegacyKeyValueFormat",
                $"\"{keyword} key=value\" should be used instead of legacy \"{keyword} key value\" format", KeywordSpan(node));
        return result;
    }

    private static MaintainerInstruction CheckMaintainer(RawInstruction node, SourceSpan span, string text, DockerfileWarnings warnings)
    {
        var maintainer = ExactlyOne(node, "MAINTAINER");
        warnings.Add(DiagnosticCodes.MaintainerDeprecated, "MaintainerDeprecated",
            "Maintainer instruction is deprecated in favor of using label", KeywordSpan(node));
        return new MaintainerInstruction(span, text, maintainer);
    }

    /// <summary>
    /// COPY and ADD arguments (BuildKit's <c>parseSourcesAndDest</c>): the last is the destination and may not be a
    /// heredoc; each source that is a heredoc word takes the body read for that name, tabs stripped for <c>&lt;&lt;-</c>.
    /// </summary>
    private static (List<SourceArgument> Sources, string Destination) SourcesAndDestination(RawInstruction node, string keyword)
    {
        var args = node.Arguments;
        if (args.Count < 2)
            throw Error(DiagnosticCodes.InstructionArgumentCount,
                $"{keyword} requires at least two arguments, but only one was provided. Destination could not be determined.",
                args.Count == 0 ? KeywordSpan(node) : SpanOf(node, args[0]));
        var destination = args[^1];
        if (!node.IsJson && HeredocLexer.TryParse(destination.Value) is not null)
            throw Error(DiagnosticCodes.InvalidHeredoc, $"{keyword} cannot accept a heredoc as a destination", SpanOf(node, destination));
        var bodies = new Dictionary<string, RawHeredoc>(StringComparer.Ordinal);
        foreach (var heredoc in node.Heredocs)
            bodies[heredoc.Name] = heredoc;
        var sources = new List<SourceArgument>();
        for (int i = 0; i < args.Count - 1; i++)
        {
            var source = args[i];
            if (!node.IsJson && HeredocLexer.TryParse(source.Value) is { } h)
            {
                var content = bodies.TryGetValue(h.Name, out var body) ? body.Content : "";
                sources.Add(new SourceArgument(null, new Heredoc(h.Name, h.Chomp ? HeredocLexer.ChompContent(content) : content, h.Expand, h.Chomp)));
            }
            else
            {
                sources.Add(new SourceArgument(source.Value, null));
            }
        }
        return (sources, destination.Value);
    }

    private static CopyInstruction CheckCopy(RawInstruction node, SourceSpan span, string text)
    {
        var flags = new BuilderFlags(node);
        flags.AddString("chown");
        flags.AddString("from");
        flags.AddString("chmod");
        flags.AddBool("link");
        flags.AddBool("parents");
        flags.AddStrings("exclude");
        var (sources, destination) = SourcesAndDestination(node, "COPY");
        flags.Parse();
        var from = flags.String("from");
        if (from is not null && from.Contains('$'))
            throw Error(DiagnosticCodes.CopyFromVariable,
                "variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround",
                flags.SpanOf("from"));
        return new CopyInstruction(span, text, sources, destination, flags.String("chown"), flags.String("chmod"),
            flags.Bool("link") ?? false, flags.Strings("exclude").ToList(), from, flags.Bool("parents") ?? false);
    }

    private static AddInstruction CheckAdd(RawInstruction node, SourceSpan span, string text)
    {
        var flags = new BuilderFlags(node);
        flags.AddString("chown");
        flags.AddString("chmod");
        flags.AddBool("link");
        flags.AddBool("keep-git-dir");
        flags.AddString("checksum");
        flags.AddBool("unpack");
        flags.AddStrings("exclude");
        var (sources, destination) = SourcesAndDestination(node, "ADD");
        flags.Parse();
        return new AddInstruction(span, text, sources, destination, flags.String("chown"), flags.String("chmod"),
            flags.Bool("link") ?? false, flags.Strings("exclude").ToList(), flags.Bool("keep-git-dir") ?? false,
            flags.String("checksum"), flags.Bool("unpack"));
    }

    private static VolumeInstruction CheckVolume(RawInstruction node, SourceSpan span, string text)
    {
        var paths = new List<string>();
        foreach (var arg in AtLeastOne(node, "VOLUME"))
        {
            var path = arg.Value.Trim();
            if (path.Length == 0)
                throw Error(DiagnosticCodes.InvalidInstructionArgument, "VOLUME specified can not be an empty string", SpanOf(node, arg));
            paths.Add(path);
        }
        return new VolumeInstruction(span, text, paths);
    }

    private static ArgInstruction CheckArg(RawInstruction node, SourceSpan span, string text)
    {
        var declarations = new List<ArgDeclaration>();
        foreach (var arg in AtLeastOne(node, "ARG"))
        {
            var eq = arg.Value.IndexOf('=');
            if (eq < 0)
            {
                declarations.Add(new ArgDeclaration(arg.Value, null));
                continue;
            }
            if (eq == 0)
                throw Error(DiagnosticCodes.InvalidKeyValuePair, "ARG names can not be blank", SpanOf(node, arg));
            declarations.Add(new ArgDeclaration(arg.Value[..eq], arg.Value[(eq + 1)..]));
        }
        return new ArgInstruction(span, text, declarations);
    }

    /// <summary>
    /// ONBUILD: the trigger is stored as written after ONBUILD, each heredoc body re-attached as BuildKit stores it
    /// (<c>"\n" + body + name</c>), so that downstream it parses back to the same instruction.
    /// </summary>
    private static OnbuildInstruction CheckOnbuild(RawInstruction node, SourceSpan span, string text, DockerfileWarnings warnings)
    {
        if (node.Trigger is not { } trigger)
            throw Error(DiagnosticCodes.InstructionArgumentCount, "ONBUILD requires at least one argument", KeywordSpan(node));
        NoFlags(node);
        var triggerKeyword = trigger.Keyword.ToUpperInvariant();
        var triggerSpan = trigger.Line.SpanAt(trigger.KeywordOffset, trigger.KeywordAsWritten.Length);
        switch (triggerKeyword)
        {
            case "ONBUILD":
                throw Error(DiagnosticCodes.InvalidOnbuildTrigger, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed", triggerSpan);
            case "MAINTAINER" or "FROM":
                throw Error(DiagnosticCodes.InvalidOnbuildTrigger, $"{triggerKeyword} isn't allowed as an ONBUILD trigger", triggerSpan);
        }
        var expression = OnbuildPrefix().Replace(node.Original, "");
        foreach (var heredoc in node.Heredocs)
        {
            expression += "\n" + heredoc.Content + heredoc.Name;
            trigger.Heredocs.Add(heredoc);
        }
        var parsed = Check(trigger, warnings);
        return new OnbuildInstruction(span, text, expression, parsed);
    }

    private static HealthcheckInstruction CheckHealthcheck(RawInstruction node, SourceSpan span, string text)
    {
        if (node.Arguments.Count == 0)
            throw Error(DiagnosticCodes.InstructionArgumentCount, "HEALTHCHECK requires at least one argument", KeywordSpan(node));
        var typeToken = node.Arguments[0];
        var type = typeToken.Value.ToUpperInvariant();
        var args = node.Arguments.Skip(1).Select(a => a.Value).ToList();
        if (type == "NONE")
        {
            // BuildKit never parses the flags of HEALTHCHECK NONE, so any there are silently ignored.
            if (args.Count != 0)
                throw Error(DiagnosticCodes.InvalidHealthcheck, "HEALTHCHECK NONE takes no arguments", SpanOf(node, node.Arguments[1]));
            return new HealthcheckInstruction(span, text, ["NONE"], null, null, null, null, null);
        }
        var flags = new BuilderFlags(node);
        flags.AddString("interval");
        flags.AddString("timeout");
        flags.AddString("start-period");
        flags.AddString("start-interval");
        flags.AddString("retries");
        flags.Parse();
        if (type != "CMD")
            throw Error(DiagnosticCodes.InvalidHealthcheck, $"Unknown type \"{type}\" in HEALTHCHECK (try CMD)", SpanOf(node, typeToken));
        if (args.Count == 0)
            throw Error(DiagnosticCodes.InvalidHealthcheck, "Missing command after HEALTHCHECK CMD", SpanOf(node, typeToken));
        List<string> test = node.IsJson ? ["CMD", .. args] : ["CMD-SHELL", string.Join(' ', args)];

        int? retries = null;
        if (flags.String("retries") is { Length: > 0 } retriesText)
        {
            if (!int.TryParse(retriesText, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
                throw Error(DiagnosticCodes.InvalidHealthcheck,
                    $"strconv.ParseInt: parsing \"{retriesText}\": invalid syntax (--retries takes a whole number)", flags.SpanOf("retries"));
            if (value < 0)
                throw Error(DiagnosticCodes.InvalidHealthcheck, $"--retries cannot be negative ({value})", flags.SpanOf("retries"));
            retries = value;
        }
        return new HealthcheckInstruction(span, text, test, Interval(flags, "interval"), Interval(flags, "timeout"),
            Interval(flags, "start-period"), Interval(flags, "start-interval"), retries);
    }

    /// <summary>
    /// A duration flag (BuildKit's <c>parseOptInterval</c>): unset or empty is null, 0 is allowed (the default), anything
    /// else below 1ms (negative values included) is an error.
    /// </summary>
    private static TimeSpan? Interval(BuilderFlags flags, string name)
    {
        var value = flags.String(name);
        if (string.IsNullOrEmpty(value))
            return null;
        var nanoseconds = GoDuration.TryParse(value, out var error);
        if (nanoseconds is null)
            throw Error(DiagnosticCodes.InvalidHealthcheck, error!, flags.SpanOf(name));
        if (nanoseconds == 0)
            return TimeSpan.Zero;
        if (nanoseconds < 1_000_000)
            throw Error(DiagnosticCodes.InvalidHealthcheck, $"Interval \"{name}\" cannot be less than 1ms", flags.SpanOf(name));
        return TimeSpan.FromTicks(nanoseconds.Value / 100);
    }
}
