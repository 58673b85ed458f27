using System.Globalization;
using Livrable.Diagnostics;
using Livrable.Dockerfile;
using Livrable.Images;
using Livrable.Go;

namespace Livrable.Build.Dockerfile;

/// <summary>
/// The instructions that change only the image config and the build environment: ENV, ARG, LABEL, MAINTAINER, EXPOSE,
/// VOLUME, USER, STOPSIGNAL, HEALTHCHECK, SHELL, CMD, ENTRYPOINT, ONBUILD. Each writes the config field and the history
/// entry (<c>empty_layer</c>) exactly as BuildKit's <c>dispatch*</c> functions do
/// (<c>frontend/dockerfile/dockerfile2llb/convert.go</c>; the checklist's section 7). Values are expanded only where
/// BuildKit expands them (section 2.2): never in CMD, ENTRYPOINT, HEALTHCHECK, SHELL or MAINTAINER.
/// </summary>
internal static class MetadataSteps
{
    /// <summary>The default shell of a Linux image (<c>defaultShell</c>), and of a Windows one.</summary>
    public static IReadOnlyList<string> DefaultShell(string? os)
        => os == "windows" ? ["cmd", "/S", "/C"] : ["/bin/sh", "-c"];

    /// <summary>The PATH BuildKit adds when a base has none (<c>system.DefaultPathEnv</c>, Linux).</summary>
    public const string DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    /// <summary>
    /// ENV: every pair expanded with the environment as it was before the instruction (so <c>ENV a=1 b=$a</c> gives b
    /// the old a); each replaces its name in place in <c>Config.Env</c> or is appended.
    /// </summary>
    public static void Env(StepContext step, EnvInstruction env)
    {
        var state = step.State;
        var before = Snapshot(state);
        var parts = new List<string>();
        foreach (var pair in env.Variables)
        {
            string key = step.Services.Expander.Word(pair.Key, before, step.Span);
            string value = step.Services.Expander.Word(pair.Value, before, step.Span);
            state.Environment[key] = value;
            state.Config.SetEnv(key, value);
            parts.Add(key + "=" + value);
        }
        step.Services.AddHistory(state, "ENV " + string.Join(' ', parts));
    }

    /// <summary>
    /// ARG: pairs in order, each seeing the ones before (<c>ARG a=1 b=$a</c> gives b=1). The value is the build argument
    /// when given (not expanded), else the default expanded, else the meta argument of that name; with none of them the
    /// name is declared but unset. A value joins the build environment (later declarations win over ENV there, as in
    /// BuildKit), never <c>Config.Env</c>.
    /// </summary>
    public static void Arg(StepContext step, ArgInstruction arg)
    {
        var services = step.Services;
        var state = step.State;
        var parts = new List<string>();
        foreach (var declaration in arg.Args)
        {
            string name = declaration.Name;
            services.Arguments.Consume(name);
            string? value;
            if (services.Arguments.Given.TryGetValue(name, out var given)) value = given;
            else if (declaration.DefaultValue is not null) value = services.Expander.Word(declaration.DefaultValue, state.Environment, step.Span);
            else value = services.Arguments.Meta.TryGetValue(name, out var meta) ? meta : null;
            if (value is not null) state.Environment[name] = value;
            state.DeclaredArgs.Add(name);
            parts.Add(value is null ? name : name + "=" + value);
        }
        services.AddHistory(state, "ARG " + string.Join(' ', parts));
    }

    /// <summary>LABEL: keys and values expanded with the environment before the instruction; later wins.</summary>
    public static void Label(StepContext step, LabelInstruction label)
    {
        var before = Snapshot(step.State);
        var parts = new List<string>();
        foreach (var pair in label.Labels)
        {
            string key = step.Services.Expander.Word(pair.Key, before, step.Span);
            string value = step.Services.Expander.Word(pair.Value, before, step.Span);
            step.State.Config.SetLabel(key, value);
            parts.Add(key + "=" + value);
        }
        step.Services.AddHistory(step.State, "LABEL " + string.Join(' ', parts));
    }

    /// <summary>MAINTAINER: the image's <c>author</c>, not expanded.</summary>
    public static void Maintainer(StepContext step, MaintainerInstruction maintainer)
    {
        step.State.Config.Author = maintainer.Maintainer;
        step.Services.AddHistory(step.State, "MAINTAINER " + maintainer.Maintainer);
    }

    /// <summary>
    /// EXPOSE: words sorted, expanded with word splitting, then each <c>[ip:][host:]port[-port][/proto]</c> becomes one
    /// <c>port/proto</c> per port of the range (protocol lowercased, tcp by default; BuildKit's <c>parsePortSpec</c>).
    /// </summary>
    public static void Expose(StepContext step, ExposeInstruction expose)
    {
        var ports = new List<string>();
        foreach (string word in expose.Ports.Order(StringComparer.Ordinal))
            foreach (string spec in step.Services.Expander.Words(word, step.State.Environment, step.Span))
                ports.AddRange(ParsePortSpec(spec, step.Span));
        foreach (string port in ports) step.State.Config.AddExposedPort(port);
        step.Services.AddHistory(step.State, "EXPOSE " + GoFormat.List(ports));
    }

    /// <summary>VOLUME: each path expanded; an empty one is LIV1107.</summary>
    public static void Volume(StepContext step, VolumeInstruction volume)
    {
        var paths = new List<string>();
        foreach (string raw in volume.Paths)
        {
            string path = step.Services.Expander.Word(raw, step.State.Environment, step.Span);
            if (path.Length == 0)
                throw new LivrableException(DiagnosticCodes.EmptyVolume, "VOLUME specified can not be an empty string", step.Span);
            paths.Add(path);
        }
        foreach (string path in paths) step.State.Config.AddVolume(path);
        step.Services.AddHistory(step.State, "VOLUME " + GoFormat.List(paths));
    }

    /// <summary>USER: expanded, stored as written (names are resolved at run time).</summary>
    public static void User(StepContext step, UserInstruction user)
    {
        string value = step.Services.Expander.Word(user.User, step.State.Environment, step.Span);
        step.State.Config.User = value;
        step.Services.AddHistory(step.State, "USER " + value);
    }

    /// <summary>STOPSIGNAL: expanded, checked as <c>moby/sys/signal.ParseSignal</c> does, stored as written.</summary>
    public static void StopSignal(StepContext step, StopsignalInstruction stop)
    {
        string value = step.Services.Expander.Word(stop.Signal, step.State.Environment, step.Span);
        if (!IsSignal(value))
            throw new LivrableException(DiagnosticCodes.InvalidStopSignal, $"Invalid signal: {value}", step.Span);
        step.State.Config.StopSignal = value;
        step.Services.AddHistory(step.State, "STOPSIGNAL " + value);
    }

    /// <summary>HEALTHCHECK: the last one wins; durations in nanoseconds; history is Go's <c>%+v</c> of the struct.</summary>
    public static void Healthcheck(StepContext step, HealthcheckInstruction health)
    {
        var check = new Healthcheck(health.Test, health.Interval ?? TimeSpan.Zero, health.Timeout ?? TimeSpan.Zero,
            health.StartPeriod ?? TimeSpan.Zero, health.StartInterval ?? TimeSpan.Zero, health.Retries ?? 0);
        step.State.Config.Healthcheck = check;
        string createdBy = $"HEALTHCHECK {{Test:{GoFormat.List(check.Test)} Interval:{GoDuration.Format(check.Interval)} " +
            $"Timeout:{GoDuration.Format(check.Timeout)} StartPeriod:{GoDuration.Format(check.StartPeriod)} " +
            $"StartInterval:{GoDuration.Format(check.StartInterval)} Retries:{check.Retries.ToString(CultureInfo.InvariantCulture)}}}";
        step.Services.AddHistory(step.State, createdBy);
    }

    /// <summary>SHELL: stored in the config (so inherited), used by later shell forms.</summary>
    public static void Shell(StepContext step, ShellInstruction shell)
    {
        step.State.Config.Shell = shell.Shell;
        step.Services.AddHistory(step.State, "SHELL " + GoFormat.List(shell.Shell));
    }

    /// <summary>CMD: shell form wrapped by the SHELL in force; sets <c>ArgsEscaped</c>, as BuildKit does.</summary>
    public static void Cmd(StepContext step, CmdInstruction cmd)
    {
        var args = CommandArguments(step.State.Config, cmd.Command);
        step.State.Config.Cmd = args.Count == 0 ? null : args;
        step.State.Config.ArgsEscaped = true;
        step.State.CmdSet = true;
        step.Services.AddHistory(step.State, "CMD " + GoFormat.QuoteList(args));
    }

    /// <summary>ENTRYPOINT: shell form wrapped by the SHELL in force; drops the CMD unless this stage set one.</summary>
    public static void Entrypoint(StepContext step, EntrypointInstruction entrypoint)
    {
        var args = CommandArguments(step.State.Config, entrypoint.Command);
        step.State.Config.Entrypoint = args.Count == 0 ? null : args;
        if (!step.State.CmdSet) step.State.Config.Cmd = null;
        step.Services.AddHistory(step.State, "ENTRYPOINT " + GoFormat.QuoteList(args));
    }

    /// <summary>ONBUILD: the trigger's raw text appended to <c>OnBuild</c>; no history entry.</summary>
    public static void Onbuild(StepContext step, OnbuildInstruction onbuild)
    {
        var triggers = step.State.Config.OnBuild?.ToList() ?? [];
        triggers.Add(onbuild.Trigger);
        step.State.Config.OnBuild = triggers;
    }

    /// <summary>Exec form as written; shell form as the SHELL in force (or the default) plus the text (<c>withShell</c>).</summary>
    public static IReadOnlyList<string> CommandArguments(ImageConfig config, CommandLine command)
    {
        if (command.IsExecForm) return command.Arguments;
        var shell = config.Shell is { Count: > 0 } s ? s : DefaultShell(config.Os);
        return [.. shell, command.ShellText];
    }

    /// <summary>BuildKit's <c>parsePortSpec</c>: the ports of one EXPOSE value as <c>port/proto</c>.</summary>
    public static IReadOnlyList<string> ParsePortSpec(string raw, SourceSpan span)
    {
        var parts = raw.Split(':');
        string hostIp = parts.Length > 2 ? string.Join(':', parts[..^2]) : "";
        string hostPort = parts.Length > 1 ? parts[^2] : "";
        string containerPort = parts[^1];
        int slash = containerPort.IndexOf('/');
        string proto = slash < 0 ? "" : containerPort[(slash + 1)..].ToLowerInvariant();
        string port = slash < 0 ? containerPort : containerPort[..slash];
        if (port.Length == 0) throw Invalid($"no port specified: {containerPort}<empty>");
        proto = proto switch
        {
            "" => "tcp",
            "tcp" or "udp" or "sctp" => proto,
            _ => throw Invalid("invalid proto: " + proto),
        };
        if (hostIp.StartsWith('[') && hostIp.EndsWith(']')) hostIp = hostIp[1..^1];
        if (hostIp.Length > 0 && !System.Net.IPAddress.TryParse(hostIp, out _)) throw Invalid("invalid IP address: " + hostIp);
        if (!TryRange(port, out uint start, out uint end)) throw Invalid("invalid containerPort: " + port);
        if (hostPort.Length > 0)
        {
            if (!TryRange(hostPort, out uint hostStart, out uint hostEnd)) throw Invalid("invalid hostPort: " + hostPort);
            if (end - start != hostEnd - hostStart && end != start)
                throw Invalid($"invalid ranges specified for container and host Ports: {port} and {hostPort}");
        }
        var ports = new List<string>();
        for (uint p = start; p <= end; p++) ports.Add(p.ToString(CultureInfo.InvariantCulture) + "/" + proto);
        return ports;

        LivrableException Invalid(string message) => new(DiagnosticCodes.InvalidExpose, message, span);
    }

    private static bool TryRange(string value, out uint start, out uint end)
    {
        end = 0;
        int dash = value.IndexOf('-');
        if (dash < 0)
        {
            bool ok = TryPort(value, out start);
            end = start;
            return ok;
        }
        return TryPort(value[..dash], out start) && TryPort(value[(dash + 1)..], out end) && end >= start;
    }

    private static bool TryPort(string value, out uint port)
        => uint.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out port) && port <= 65535;

    /// <summary><c>moby/sys/signal.ParseSignal</c> on Linux: a non-zero number, or a name with or without SIG, any case.</summary>
    public static bool IsSignal(string value)
    {
        if (int.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int number)) return number != 0;
        string name = value.ToUpperInvariant();
        if (name.StartsWith("SIG", StringComparison.Ordinal)) name = name[3..];
        return SignalNames.Contains(name);
    }

    private static readonly HashSet<string> SignalNames = new(StringComparer.Ordinal)
    {
        "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL", "PIPE", "POLL",
        "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP", "TTIN", "TTOU", "URG", "USR1",
        "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ", "RTMIN", "RTMIN+1", "RTMIN+2", "RTMIN+3", "RTMIN+4", "RTMIN+5",
        "RTMIN+6", "RTMIN+7", "RTMIN+8", "RTMIN+9", "RTMIN+10", "RTMIN+11", "RTMIN+12", "RTMIN+13", "RTMIN+14",
        "RTMIN+15", "RTMAX-14", "RTMAX-13", "RTMAX-12", "RTMAX-11", "RTMAX-10", "RTMAX-9", "RTMAX-8", "RTMAX-7",
        "RTMAX-6", "RTMAX-5", "RTMAX-4", "RTMAX-3", "RTMAX-2", "RTMAX-1", "RTMAX",
    };

    private static Dictionary<string, string> Snapshot(StageState state) => new(state.Environment, StringComparer.Ordinal);
}
