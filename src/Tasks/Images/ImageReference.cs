using System.Text.RegularExpressions;
using Livrable.Diagnostics;

namespace Livrable.Images;

/// <summary>
/// An image reference, <c>[registry/]repository[:tag][@digest]</c>, parsed and normalized as Docker does
/// (https://github.com/distribution/reference/blob/main/reference.go and normalize.go): with no registry the image is
/// on <c>docker.io</c>, and a one-component repository there is under <c>library/</c>.
/// </summary>
public sealed partial record ImageReference
{
    /// <summary>The registry Docker Hub images are on once normalized.</summary>
    public const string DockerHub = "docker.io";

    /// <summary>The longest <c>registry/repository</c> the grammar allows.</summary>
    public const int NameTotalLengthMax = 255;

    private ImageReference(string registry, string repository, string? tag, Digest? digest)
    {
        Registry = registry;
        Repository = repository;
        Tag = tag;
        Digest = digest;
    }

    /// <summary>The registry host, with its port when one was given: <c>docker.io</c>, <c>localhost:5000</c>, <c>[::1]:5000</c>.</summary>
    public string Registry { get; }

    /// <summary>The repository (path) inside the registry: <c>library/ubuntu</c>, <c>team/app</c>.</summary>
    public string Repository { get; }

    /// <summary>The tag, or null when none was written (a digest alone, or the implied <c>latest</c>).</summary>
    public string? Tag { get; }

    /// <summary>The manifest digest, when the reference pins one.</summary>
    public Digest? Digest { get; }

    /// <summary><c>registry/repository</c>, fully normalized: <c>docker.io/library/ubuntu</c>.</summary>
    public string FullName => $"{Registry}/{Repository}";

    /// <summary>
    /// What to ask the registry's manifest endpoint for: the digest when pinned (it wins over a tag, as in Docker),
    /// else the tag, else <c>latest</c>.
    /// </summary>
    public string ManifestReference => Digest?.ToString() ?? Tag ?? "latest";

    /// <summary>
    /// Parses <paramref name="value"/> and normalizes it. Throws LIV2001 naming the part that is wrong.
    /// </summary>
    public static ImageReference Parse(string value)
    {
        if (value is null) throw new ArgumentNullException(nameof(value));
        string? error = TryParseCore(value, out var reference);
        return error is null ? reference! : throw new LivrableException(DiagnosticCodes.InvalidReference, $"'{value}' is not a valid image reference: {error}.");
    }

    /// <summary>Parses <paramref name="value"/> without throwing; <paramref name="error"/> says why it failed.</summary>
    public static bool TryParse(string? value, out ImageReference? reference, out string? error)
    {
        reference = null;
        error = value is null ? "it is empty" : TryParseCore(value, out reference);
        return error is null;
    }

    /// <summary>This reference with <paramref name="tag"/> (LIV2002 when invalid); a digest stays, as in distribution's <c>WithTag</c>.</summary>
    public ImageReference WithTag(string tag)
    {
        ValidateTag(tag);
        return new ImageReference(Registry, Repository, tag, Digest);
    }

    /// <summary>Checks a tag against <c>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}</c>; throws LIV2002.</summary>
    public static void ValidateTag(string tag)
    {
        if (tag is null || !TagPattern().IsMatch(tag))
            throw new LivrableException(DiagnosticCodes.InvalidTag,
                $"'{tag}' is not a valid tag: a tag is 1 to 128 letters, digits, '_', '.' or '-', and does not start with '.' or '-'.");
    }

    /// <summary>
    /// Checks a repository given without registry or tag (<c>myapp</c>, <c>team/myapp</c>): lowercase path components
    /// joined by <c>/</c>, at most 255 characters. Throws LIV2008.
    /// </summary>
    public static void ValidateRepository(string repository)
    {
        string? error = repository is null or "" ? "it is empty" : CheckPath(repository);
        if (error is null && repository!.Length > NameTotalLengthMax)
            error = $"it is longer than {NameTotalLengthMax} characters";
        if (error is not null)
            throw new LivrableException(DiagnosticCodes.InvalidRepository, $"'{repository}' is not a valid repository: {error}.");
    }

    /// <summary>
    /// The familiar form Docker prints: no <c>docker.io/</c> and no <c>library/</c> for Docker Hub images, then
    /// <c>:tag</c> and <c>@digest</c> when present.
    /// </summary>
    public override string ToString()
    {
        string name = Registry == DockerHub
            ? Repository.StartsWith("library/", StringComparison.Ordinal) && Repository.IndexOf('/', 8) < 0 ? Repository[8..] : Repository
            : FullName;
        if (Tag is not null) name += ":" + Tag;
        if (Digest is { } d) name += "@" + d;
        return name;
    }

    private static string? TryParseCore(string value, out ImageReference? reference)
    {
        reference = null;
        if (value.Length == 0) return "it is empty";

        // A name that is only 64 hex digits would be taken for an image id by Docker; distribution refuses it.
        if (ImageIdPattern().IsMatch(value))
            return "a repository name cannot be 64 hexadecimal digits (that is an image id)";

        string rest = value;
        Digest? digest = null;
        int at = rest.IndexOf('@');
        if (at >= 0)
        {
            string d = rest[(at + 1)..];
            if (!Images.Digest.TryParse(d, out var parsed))
                return $"'{d}' after '@' is not a digest (expected sha256: and 64 lowercase hex digits, or sha512: and 128)";
            digest = parsed;
            rest = rest[..at];
        }

        string? tag = null;
        int colon = rest.LastIndexOf(':');
        if (colon >= 0 && colon > rest.LastIndexOf('/'))
        {
            tag = rest[(colon + 1)..];
            if (!TagPattern().IsMatch(tag))
                return tag.Length == 0 ? "the tag after ':' is empty" : $"the tag '{tag}' is not 1 to 128 letters, digits, '_', '.' or '-' (not starting with '.' or '-')";
            rest = rest[..colon];
        }
        if (rest.Length == 0) return "the repository name is empty";

        // normalize.go's splitDockerDomain: the first component is a registry when it has a '.' or a ':' or is
        // localhost. Unlike distribution, a first component with uppercase letters is not taken for a registry (their
        // own tests mark that behaviour FIXME); so "MyOrg/app" says "must be lowercase" instead of dialling host MyOrg.
        string registry = DockerHub;
        string path = rest;
        int slash = rest.IndexOf('/');
        if (slash >= 0)
        {
            string first = rest[..slash];
            if (first.Contains('.') || first.Contains(':') || first == "localhost")
            {
                registry = first;
                path = rest[(slash + 1)..];
                if (!RegistryPattern().IsMatch(registry))
                    return $"'{registry}' is not a valid registry host (a domain name, IPv4 or [IPv6] address, with an optional :port)";
            }
        }
        if (registry == "index.docker.io") registry = DockerHub;

        string? pathError = CheckPath(path);
        if (pathError is not null) return pathError;

        if (registry == DockerHub && !path.Contains('/')) path = "library/" + path;
        if (registry.Length + 1 + path.Length > NameTotalLengthMax)
            return $"the name '{registry}/{path}' is longer than {NameTotalLengthMax} characters";

        reference = new ImageReference(registry, path, tag, digest);
        return null;
    }

    private static string? CheckPath(string path)
    {
        if (path.Length == 0) return "the repository name is empty";
        foreach (char c in path)
            if (c is >= 'A' and <= 'Z') return $"repository names must be lowercase ('{path}')";
        foreach (string component in path.Split('/'))
        {
            if (component.Length == 0) return $"the repository '{path}' has an empty path component (a leading, trailing or doubled '/')";
            if (!ComponentPattern().IsMatch(component))
                return $"'{component}' is not a valid repository path component: lowercase letters and digits, separated by one '.', one or two '_', or dashes, starting and ending with a letter or digit";
        }
        return null;
    }

    [GeneratedRegex(@"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*\z", RegexOptions.CultureInvariant)]
    private static partial Regex ComponentPattern();

    [GeneratedRegex(@"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\z", RegexOptions.CultureInvariant)]
    private static partial Regex TagPattern();

    [GeneratedRegex(@"^(?:(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])(?:\.(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]))*|\[[A-Fa-f0-9:]+\])(?::[0-9]+)?\z", RegexOptions.CultureInvariant)]
    private static partial Regex RegistryPattern();

    [GeneratedRegex(@"^[a-f0-9]{64}\z", RegexOptions.CultureInvariant)]
    private static partial Regex ImageIdPattern();
}
