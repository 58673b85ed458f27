using System.Collections.Concurrent;
using System.Diagnostics;
using System.IO.Compression;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using Livrable.Diagnostics;

namespace Livrable.Runtime;

/// <summary>What <see cref="RuntimeVersion.Judge"/> makes of a runtime's version.</summary>
internal enum RuntimeVerdict
{
    /// <summary>Not runc (crun, youki...): not judged.</summary>
    NotRunc,
    /// <summary>A runc release with the fixes.</summary>
    Fixed,
    /// <summary>An older runc whose distribution package says it carries the fixes (its changelog names the three CVEs).</summary>
    Backported,
    /// <summary>An older runc built by a distribution that does not say it carries the fixes: LIV5031, a warning.</summary>
    Unknown,
    /// <summary>An older runc built from an upstream release tag, which has no backport: LIV5030.</summary>
    Vulnerable,
}

/// <summary>
/// The runc version gate. runc before 1.2.8, 1.3.3 and 1.4.0-rc.3 lets a hostile image's root filesystem turn the
/// runtime's own writes against the host while it sets the container up (CVE-2025-31133 <c>/dev/null</c> masking,
/// CVE-2025-52565 <c>/dev/console</c>, CVE-2025-52881 redirected <c>/proc</c> writes), and a build runs base images that
/// are often someone else's. Upstream fixed no older line. So: a runc built from an upstream tag (its <c>commit:</c>
/// line is <c>v1.x.y-0-g…</c>, as release binaries and Docker's containerd.io package print) below the fixes is refused;
/// a distribution build below them is accepted silently when the package's changelog
/// (<c>/usr/share/doc/runc/changelog.Debian.gz</c>) names the three CVEs, and with a warning otherwise (Debian 12's
/// <c>1.1.5+ds1-1+deb12u1</c> carries only the CVE-2024-21626 fix). <c>LIVRABLE_ALLOW_UNPATCHED_RUNTIME=1</c> turns
/// the refusal into the warning.
/// </summary>
internal static partial class RuntimeVersion
{
    /// <summary>The CVEs the gate is about, as a changelog names them.</summary>
    public static readonly IReadOnlyList<string> Cves = ["CVE-2025-31133", "CVE-2025-52565", "CVE-2025-52881"];

    /// <summary>Debian's (and Ubuntu's) changelog of the runc package.</summary>
    public const string DebianChangelog = "/usr/share/doc/runc/changelog.Debian.gz";

    /// <summary>The variable that turns LIV5030 into the LIV5031 warning.</summary>
    public const string AllowVariable = "LIVRABLE_ALLOW_UNPATCHED_RUNTIME";

    private static readonly ConcurrentDictionary<string, (RuntimeVerdict Verdict, string Version)> Verdicts = new(StringComparer.Ordinal);
    private static readonly ConditionalWeakTable<ILogger, object> Warned = [];

    /// <summary>
    /// Checks the runtime at <paramref name="runtime"/> once per process (its verdict is kept) and, with a
    /// <paramref name="stateDirectory"/>, once per runtime binary (<see cref="Judged"/>); warns once per
    /// <paramref name="logger"/> (one build). Throws LIV5030 for a <see cref="RuntimeVerdict.Vulnerable"/> runc.
    /// </summary>
    public static void Check(string runtime, ILogger logger, string? stateDirectory = null)
    {
        var (verdict, version) = Verdicts.GetOrAdd(runtime, r => Judged(r, stateDirectory));
        bool allowed = Environment.GetEnvironmentVariable(AllowVariable) == "1";
        string fixes = "runc 1.2.8, 1.3.3 or 1.4.0-rc.3 and later fix CVE-2025-31133, CVE-2025-52565 and CVE-2025-52881, through which a hostile base " +
                       "image can reach the host while runc sets up a RUN";
        if (verdict == RuntimeVerdict.Vulnerable && !allowed)
            throw new LivrableException(DiagnosticCodes.RuntimeUnpatched,
                $"The OCI runtime '{runtime}' is {version}, an upstream build without the fixes: {fixes}. Install a fixed runc (or ContainerRuntimePath " +
                $"to one), or set {AllowVariable}=1 to run with this one anyway.");
        if (verdict is RuntimeVerdict.Unknown or RuntimeVerdict.Vulnerable && Warned.TryAdd(logger, new object()))
            logger.Warning(DiagnosticCodes.RuntimeMayBeUnpatched,
                $"The OCI runtime '{runtime}' is {version}: {fixes}, and its package does not say it carries them. RUN only base images you trust, " +
                "or install a fixed runc.");
    }

    /// <summary>
    /// The verdict for a runtime that printed <paramref name="versionOutput"/> for <c>--version</c>;
    /// <paramref name="changelog"/> gives the distribution's changelog text (null when there is none).
    /// </summary>
    public static RuntimeVerdict Judge(string versionOutput, Func<string?> changelog)
    {
        var match = VersionLine().Match(versionOutput);
        if (!match.Success) return RuntimeVerdict.NotRunc;
        int major = int.Parse(match.Groups["major"].Value, System.Globalization.CultureInfo.InvariantCulture);
        int minor = int.Parse(match.Groups["minor"].Value, System.Globalization.CultureInfo.InvariantCulture);
        int patch = int.Parse(match.Groups["patch"].Value, System.Globalization.CultureInfo.InvariantCulture);
        int? rc = match.Groups["rc"].Success ? int.Parse(match.Groups["rc"].Value, System.Globalization.CultureInfo.InvariantCulture) : null;
        if (IsFixed(major, minor, patch, rc)) return RuntimeVerdict.Fixed;
        if (UpstreamCommit().IsMatch(versionOutput)) return RuntimeVerdict.Vulnerable;
        string? log = changelog();
        return log is not null && Cves.All(c => log.Contains(c, StringComparison.Ordinal)) ? RuntimeVerdict.Backported : RuntimeVerdict.Unknown;
    }

    private static bool IsFixed(int major, int minor, int patch, int? rc) => (major, minor) switch
    {
        ( > 1, _) => true,
        (1, > 4) => true,
        (1, 4) => patch > 0 || rc is null || rc >= 3,
        (1, 3) => patch >= 3,
        (1, 2) => patch >= 8,
        _ => false,
    };

    private const string RecordVersion = "livrable-runtime-verdict 1";

    /// <summary>
    /// The verdict on <paramref name="runtime"/>: the one recorded in <paramref name="stateDirectory"/>
    /// (<c>cache/runtimes/&lt;sha256 of the path&gt;</c>, <see cref="Store.CacheRecordKind.Runtimes"/>) while the runtime's
    /// binary (links followed) and the package changelog have the status they had when it was judged
    /// (<see cref="Layers.UnixFileStatus.IdentityOf"/>: size, times, device, inode, boot), else judged again and recorded.
    /// Each build runs in a new process (<c>dotnet publish</c>), and <c>runc --version</c> with its changelog read cost
    /// every edit of samples/pyapp a process start before its RUN (issue 14, the edit loop); an upgraded runc is
    /// another file (another inode or change time), so it is judged again.
    /// </summary>
    internal static (RuntimeVerdict Verdict, string Version) Judged(string runtime, string? stateDirectory)
    {
        string? path = null, identity = null;
        if (stateDirectory is not null)
        {
            try
            {
                string binary = new FileInfo(runtime).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? runtime;
                if (Layers.UnixFileStatus.IdentityOf(binary) is { } status)
                {
                    identity = $"path={runtime}\nruntime={status}\nchangelog={Layers.UnixFileStatus.IdentityOf(DebianChangelog) ?? "none"}\n";
                    path = Path.Combine(Store.StateLayout.Records(Path.GetFullPath(stateDirectory), Store.CacheRecordKind.Runtimes),
                        Images.Digest.Sha256(System.Text.Encoding.UTF8.GetBytes(runtime)).Hex);
                    string[] lines = File.Exists(path) ? File.ReadAllText(path).Split('\n') : [];
                    if (lines.Length >= 6 && lines[0] == RecordVersion && string.Join('\n', lines[1..4]) + "\n" == identity
                        && Enum.TryParse<RuntimeVerdict>(lines[4].StartsWith("verdict=", StringComparison.Ordinal) ? lines[4]["verdict=".Length..] : "", out var recorded)
                        && lines[5].StartsWith("version=", StringComparison.Ordinal))
                        return (recorded, lines[5]["version=".Length..]);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                path = null; // judged, not recorded
            }
        }
        string output = VersionOutput(runtime);
        var judged = (Judge(output, ReadDebianChangelog), output.Split('\n')[0].Trim());
        if (path is not null && identity is not null)
        {
            string temp = $"{path}.tmp-{Guid.NewGuid():N}";
            try
            {
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                File.WriteAllText(temp, $"{RecordVersion}\n{identity}verdict={judged.Item1}\nversion={judged.Item2}\n");
                File.Move(temp, path, overwrite: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Judged again next time.
            }
            finally
            {
                try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            }
        }
        return judged;
    }

    /// <summary>What <c>runtime --version</c> prints; empty when it cannot be run.</summary>
    private static string VersionOutput(string runtime)
    {
        try
        {
            var start = new ProcessStartInfo(runtime) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            start.ArgumentList.Add("--version");
            using var process = Process.Start(start);
            if (process is null) return "";
            var error = process.StandardError.ReadToEndAsync();
            string output = process.StandardOutput.ReadToEnd();
            if (!process.WaitForExit(10_000)) process.Kill();
            _ = error.Result;
            return output;
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or IOException or InvalidOperationException)
        {
            return ""; // the run itself says what is wrong with the runtime
        }
    }

    private static string? ReadDebianChangelog()
    {
        try
        {
            using var file = File.OpenRead(DebianChangelog);
            using var gzip = new GZipStream(file, CompressionMode.Decompress);
            using var reader = new StreamReader(gzip);
            return reader.ReadToEnd();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            return null;
        }
    }

    [GeneratedRegex(@"^runc version (?<major>\d+)\.(?<minor>\d+)\.(?<patch>\d+)(-rc\.?(?<rc>\d+))?", RegexOptions.Multiline)]
    private static partial Regex VersionLine();

    [GeneratedRegex(@"^commit: v\d+\.\d+\.\d+(-rc\.?\d+)?-0-g[0-9a-f]+\s*$", RegexOptions.Multiline)]
    private static partial Regex UpstreamCommit();
}
