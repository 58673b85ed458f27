using Livrable.Build;
using Livrable.Images;

namespace Livrable.Tests.Infrastructure;

/// <summary>
/// Build requests as most tests make them, so that a test spells out only what it is about (vary the rest with
/// <c>with</c>).
/// </summary>
internal static class TestRequests
{
    /// <summary>
    /// A Dockerfile build for linux-x64 of <paramref name="context"/>'s own <c>Dockerfile</c>, tagged <c>v1</c>, to the
    /// tarball <paramref name="archivePath"/>, with the state folder <paramref name="stateDirectory"/>.
    /// </summary>
    public static ImageBuildRequest Dockerfile(string context, string repository, string archivePath, string stateDirectory,
        IReadOnlyDictionary<string, string>? buildArgs = null, string? target = null) => new()
    {
        Platform = Platform.FromRuntimeIdentifier("linux-x64"),
        Repository = repository,
        Tags = ["v1"],
        ArchivePath = archivePath,
        StateDirectory = stateDirectory,
        Dockerfile = new DockerfileBuild
        {
            DockerfilePath = Path.Combine(context, "Dockerfile"),
            ContextDirectory = context,
            BuildArgs = buildArgs ?? new Dictionary<string, string>(),
            Target = target,
        },
    };
}
