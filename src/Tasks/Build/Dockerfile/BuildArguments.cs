using System.Collections.Concurrent;
using Livrable.Diagnostics;
using Livrable.Dockerfile;
using Livrable.Images;

namespace Livrable.Build.Dockerfile;

/// <summary>
/// The build arguments of one build: the values given (<c>--build-arg</c>), the automatic platform arguments, and the
/// meta arguments (ARGs before the first FROM), which only FROM lines see unless a stage redeclares them
/// (https://docs.docker.com/reference/dockerfile/#understand-how-arg-and-from-interact; BuildKit's
/// <c>defaultArgs</c> and <c>buildMetaArgs</c>). It also records which given arguments an ARG consumed, for the
/// unused-argument warning.
/// </summary>
internal sealed class BuildArguments
{
    /// <summary>Arguments BuildKit accepts without an ARG: the proxy settings RUN sees, and the epoch.</summary>
    private static readonly HashSet<string> Predefined = new(StringComparer.OrdinalIgnoreCase)
    {
        "HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY", "SOURCE_DATE_EPOCH",
    };

    private readonly ConcurrentDictionary<string, bool> _consumed = new(StringComparer.Ordinal);

    private BuildArguments(IReadOnlyDictionary<string, string> given, Dictionary<string, string> meta, IReadOnlySet<string> automatic)
    {
        Given = given;
        Meta = meta;
        Automatic = automatic;
    }

    /// <summary>The values given for this build, by name.</summary>
    public IReadOnlyDictionary<string, string> Given { get; }

    /// <summary>The global scope FROM lines expand with: automatic arguments, then the meta ARGs in order.</summary>
    public IReadOnlyDictionary<string, string> Meta { get; }

    /// <summary>The names of the automatic platform arguments.</summary>
    public IReadOnlySet<string> Automatic { get; }

    /// <summary>
    /// Computes the global scope: the automatic platform arguments (<c>TARGETPLATFORM</c>... <c>TARGETSTAGE</c>),
    /// each overridable by a given value, then each meta ARG: the given value if any (not expanded), else its default
    /// expanded with the scope so far; an ARG with neither adds nothing.
    /// </summary>
    public static BuildArguments Create(IReadOnlyList<ArgInstruction> globalArgs, IReadOnlyDictionary<string, string> given,
        Platform target, Platform build, string targetStage, IWordExpander expander)
    {
        var meta = new Dictionary<string, string>(StringComparer.Ordinal);
        var (targetArch, targetVariant) = Normalize(target);
        var (buildArch, buildVariant) = Normalize(build);
        var automatic = new (string Name, string Value)[]
        {
            ("BUILDPLATFORM", Format(build.Os, buildArch, buildVariant)),
            ("BUILDOS", build.Os),
            ("BUILDOSVERSION", build.OsVersion ?? ""),
            ("BUILDARCH", buildArch),
            ("BUILDVARIANT", buildVariant ?? ""),
            ("TARGETPLATFORM", Format(target.Os, targetArch, targetVariant)),
            ("TARGETOS", target.Os),
            ("TARGETOSVERSION", target.OsVersion ?? ""),
            ("TARGETARCH", targetArch),
            ("TARGETVARIANT", targetVariant ?? ""),
            ("TARGETSTAGE", targetStage),
        };
        foreach (var (name, value) in automatic)
            meta[name] = given.TryGetValue(name, out var v) ? v : value;
        var arguments = new BuildArguments(given, meta, automatic.Select(a => a.Name).ToHashSet(StringComparer.Ordinal));
        foreach (var instruction in globalArgs)
        {
            foreach (var declaration in instruction.Args)
            {
                arguments.Consume(declaration.Name);
                if (given.TryGetValue(declaration.Name, out var value))
                    meta[declaration.Name] = value;
                else if (declaration.DefaultValue is not null)
                    meta[declaration.Name] = expander.Word(declaration.DefaultValue, meta, instruction.Span);
            }
        }
        return arguments;
    }

    /// <summary>Notes that an ARG declared <paramref name="name"/>, so a value given for it is used.</summary>
    public void Consume(string name) => _consumed[name] = true;

    /// <summary>Given arguments no ARG consumed, sorted; automatic and predefined ones never count as unused.</summary>
    public IReadOnlyList<string> Unused()
        => Given.Keys.Where(k => !_consumed.ContainsKey(k) && !Automatic.Contains(k) && !Predefined.Contains(k)
                                 && !k.StartsWith("BUILDKIT_", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal).ToList();

    // containerd's platforms.Normalize: arm64's only variant, v8, is dropped.
    private static (string Architecture, string? Variant) Normalize(Platform p)
        => p.Architecture == "arm64" && p.Variant is "v8" or "8" ? ("arm64", null) : (p.Architecture, p.Variant);

    private static string Format(string os, string architecture, string? variant)
        => variant is null ? $"{os}/{architecture}" : $"{os}/{architecture}/{variant}";

    /// <summary>
    /// The platform the build runs on, for the <c>BUILD*</c> arguments when the caller gives none: this machine's, or
    /// linux/amd64 where it cannot be told.
    /// </summary>
    public static Platform HostPlatform()
    {
        try
        {
            return Platform.Host();
        }
        catch (LivrableException)
        {
            return new Platform("linux", "amd64");
        }
    }
}
