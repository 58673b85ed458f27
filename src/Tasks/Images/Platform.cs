using System.Text.Json;
using Livrable.Diagnostics;

namespace Livrable.Images;

/// <summary>
/// An OS and CPU an image runs on (https://github.com/opencontainers/image-spec/blob/main/image-index.md#image-index-property-descriptions),
/// and the mapping from .NET runtime identifiers to it.
/// </summary>
public sealed record Platform(string Os, string Architecture, string? Variant = null, string? OsVersion = null)
{
    /// <summary>The platform of a .NET runtime identifier (<c>linux-x64</c> is linux/amd64, <c>linux-arm64</c> linux/arm64/v8...).</summary>
    public static Platform FromRuntimeIdentifier(string rid)
    {
        string r = rid.Trim().ToLowerInvariant();
        int dash = r.LastIndexOf('-');
        if (dash <= 0) throw Unknown(rid);
        string osPart = r[..dash];
        string arch = r[(dash + 1)..];
        string os = osPart switch
        {
            "linux" or "linux-musl" or "linux-bionic" => "linux",
            "win" => "windows",
            _ when osPart.StartsWith("linux", StringComparison.Ordinal) => "linux",
            _ => throw Unknown(rid),
        };
        return arch switch
        {
            "x64" => new Platform(os, "amd64"),
            "x86" => new Platform(os, "386"),
            "arm64" => new Platform(os, "arm64", "v8"),
            "arm" => new Platform(os, "arm", "v7"),
            "armv6" => new Platform(os, "arm", "v6"),
            "s390x" => new Platform(os, "s390x"),
            "ppc64le" => new Platform(os, "ppc64le"),
            "riscv64" => new Platform(os, "riscv64"),
            "loongarch64" => new Platform(os, "loong64"),
            _ => throw Unknown(rid),
        };
    }

    /// <summary>The runtime identifier for this machine's OS and CPU, used when none is given.</summary>
    public static Platform Host() => FromRuntimeIdentifier("linux-" + System.Runtime.InteropServices.RuntimeInformation.OSArchitecture.ToString().ToLowerInvariant());

    /// <summary>
    /// Whether an index entry for <paramref name="candidate"/> serves this platform. A missing variant on either side
    /// matches, as containerd's matcher does for arm64 (where v8 is the only variant in use).
    /// </summary>
    public bool Matches(Platform candidate)
        => string.Equals(Os, candidate.Os, StringComparison.Ordinal)
           && string.Equals(Architecture, candidate.Architecture, StringComparison.Ordinal)
           && (Variant is null || candidate.Variant is null || Variant == candidate.Variant);

    /// <summary><c>os/arch[/variant]</c>, as <c>--platform</c> writes it.</summary>
    public override string ToString() => Variant is null ? $"{Os}/{Architecture}" : $"{Os}/{Architecture}/{Variant}";

    /// <summary>Parses <c>os/arch[/variant]</c>.</summary>
    public static Platform Parse(string value)
    {
        var parts = value.Split('/');
        if (parts.Length is < 2 or > 3 || parts.Any(string.IsNullOrWhiteSpace))
            throw new LivrableException(DiagnosticCodes.InvalidPropertyValue, $"'{value}' is not a platform: expected os/arch or os/arch/variant, such as linux/amd64.");
        return new Platform(parts[0], parts[1], parts.Length == 3 ? parts[2] : null);
    }

    internal static Platform Read(JsonElement e) => new(
        Json.RequiredString(e, "os", "platform"),
        Json.RequiredString(e, "architecture", "platform"),
        Json.OptionalString(e, "variant"),
        Json.OptionalString(e, "os.version"));

    internal void Write(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteString("architecture", Architecture);
        w.WriteString("os", Os);
        if (OsVersion is not null) w.WriteString("os.version", OsVersion);
        if (Variant is not null) w.WriteString("variant", Variant);
        w.WriteEndObject();
    }

    private static LivrableException Unknown(string rid) => new(DiagnosticCodes.UnknownRuntimeIdentifier,
        $"The runtime identifier '{rid}' names no container platform Livrable knows; use one such as linux-x64, linux-arm64, linux-musl-x64 or linux-arm.");
}
