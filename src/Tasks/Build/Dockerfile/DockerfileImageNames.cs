using Livrable.Dockerfile;
using Livrable.Images;

namespace Livrable.Build.Dockerfile;

/// <summary>
/// The images a Dockerfile build reads, named as the build names them, without reading any: for each platform, the
/// meta arguments (the automatic platform ones, the given build arguments, the ARGs before the first FROM) expand
/// each FROM, as <see cref="DockerfileBuildSession"/> does; then, for the stages the target needs
/// (<see cref="StageGraph.Needed"/>), a stage replaced by a named context is that context's image, a FROM of an earlier
/// stage or <c>scratch</c> reads no image, any other FROM its named context or itself; <c>COPY --from</c> (the
/// stage's own and its base stage's ONBUILD ones) and <c>RUN --mount=...,from=</c> that name no stage (by name or
/// index) read an image the same way. What MSBuild's up-to-date check watches (<see cref="ImageInputs"/>).
/// ONBUILD triggers a base image carries in its config are not seen: the base image itself is an input, and such a
/// trigger names an image the base's author chose.
/// </summary>
internal static class DockerfileImageNames
{
    /// <summary>
    /// The image strings (<see cref="Sources.ImageSources.Open"/>'s forms), each once, in the order the Dockerfile
    /// names them. Errors are the build's (LIV1100, LIV1101, LIV1102, LIV1103, LIV1104, with their spans).
    /// </summary>
    public static IReadOnlyList<string> Of(DockerfileDocument document, IReadOnlyDictionary<string, string> buildArgs,
        IReadOnlyDictionary<string, string> namedContexts, string? target, IReadOnlyList<Platform> platforms)
    {
        var expander = new ShellWordExpander(document.Directives.Escape);
        var build = BuildArguments.HostPlatform();
        var names = new List<string>();
        void Add(string name)
        {
            if (!names.Contains(name, StringComparer.Ordinal)) names.Add(name);
        }

        foreach (var platform in platforms)
        {
            var (_, graph) = StageGraph.Prepare(document, buildArgs, target, platform, build, expander);
            foreach (int s in graph.Needed(graph.Target(target)))
            {
                var stage = graph.Stages[s];
                if (stage.Name is { } own && NamedContexts.Find(namedContexts, own) is { } replacement)
                {
                    // BuildKit dispatches nothing of a replaced stage: it is the context's image.
                    Add(replacement);
                    continue;
                }
                string baseName = graph.BaseNames[s];
                if (graph.BaseStage(s) is null && baseName != "scratch") Add(NamedContexts.Find(namedContexts, baseName) ?? baseName);
                foreach (var copy in graph.CopiesOf(s))
                    if (copy.From is { } from && graph.ResolveCopySource(from, s, copy.Span).Image is { } image)
                        Add(NamedContexts.Find(namedContexts, image) ?? image);
                foreach (var run in stage.Instructions.OfType<RunInstruction>())
                    foreach (string mount in run.Mounts)
                        if (RunMountSpec.FromOf(mount) is { } from && graph.ResolveCopySource(from, s, run.Span).Image is { } image)
                            Add(NamedContexts.Find(namedContexts, image) ?? image);
            }
        }
        return names;
    }

    /// <summary>
    /// The base images the build starts resolving as soon as it starts (<see cref="DockerfileBuildSession"/>'s
    /// <c>ResolveBaseAhead</c>), each with its platform: for each platform, each stage the target needs whose FROM
    /// names an image for the target's platform (<see cref="BaseAhead"/>). What an image build's head start resolves
    /// before the build task (<see cref="ImageBuildHeadStart"/>). Errors as <see cref="Of"/>.
    /// </summary>
    public static IReadOnlyList<(string Name, Platform Platform)> BasesAhead(DockerfileDocument document, IReadOnlyDictionary<string, string> buildArgs,
        IReadOnlyDictionary<string, string> namedContexts, string? target, IReadOnlyList<Platform> platforms)
    {
        var expander = new ShellWordExpander(document.Directives.Escape);
        var build = BuildArguments.HostPlatform();
        var bases = new List<(string, Platform)>();
        foreach (var platform in platforms)
        {
            var (_, graph) = StageGraph.Prepare(document, buildArgs, target, platform, build, expander);
            foreach (int s in graph.Needed(graph.Target(target)))
                if (BaseAhead(graph, s, namedContexts) is { } name && !bases.Contains((name, platform))) bases.Add((name, platform));
        }
        return bases;
    }

    /// <summary>
    /// The image string stage <paramref name="index"/>'s FROM resolves for the target's platform, when that is known
    /// before the stage starts: no <c>--platform</c>, no named context replacing the stage, not an earlier stage, not
    /// <c>scratch</c>; its named context when one matches, else the name. Null otherwise.
    /// </summary>
    public static string? BaseAhead(StageGraph graph, int index, IReadOnlyDictionary<string, string> namedContexts)
    {
        var stage = graph.Stages[index];
        string baseName = graph.BaseNames[index];
        if (stage.From.Platform is not null || (stage.Name is { } own && NamedContexts.Find(namedContexts, own) is not null)
            || graph.BaseStage(index) is not null || baseName == "scratch") return null;
        return NamedContexts.Find(namedContexts, baseName) ?? baseName;
    }
}
