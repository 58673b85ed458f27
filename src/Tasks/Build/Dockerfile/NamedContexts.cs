using Livrable.Images;

namespace Livrable.Build.Dockerfile;

/// <summary>
/// Named build contexts (<c>ContainerNamedContext</c>, <c>docker build --build-context name=image</c>): which one a
/// name in FROM or <c>COPY --from</c> stands for. The build and the up-to-date inputs (<see cref="DockerfileImageNames"/>)
/// both look names up here, so they agree on which image a name means.
/// </summary>
internal static class NamedContexts
{
    /// <summary>
    /// The image string of the named context <paramref name="name"/>: the same key, else the same key in another case,
    /// else one naming the same image reference once normalized (<c>debian:bookworm</c> is
    /// <c>docker.io/library/debian:bookworm</c>). Null when none; <c>scratch</c> is never replaced.
    /// </summary>
    public static string? Find(IReadOnlyDictionary<string, string> contexts, string name)
    {
        if (contexts.Count == 0 || name == "scratch") return null;
        if (contexts.TryGetValue(name, out var exact)) return exact;
        foreach (var (key, value) in contexts)
            if (string.Equals(key, name, StringComparison.OrdinalIgnoreCase)) return value;
        string? normalized = NormalizeReference(name);
        if (normalized is null) return null;
        foreach (var (key, value) in contexts)
            if (NormalizeReference(key) == normalized) return value;
        return null;
    }

    private static string? NormalizeReference(string name)
        => ImageReference.TryParse(name, out var reference, out _) && reference is not null
            ? $"{reference.FullName}:{reference.Tag ?? (reference.Digest is null ? "latest" : "")}@{reference.Digest}"
            : null;
}
