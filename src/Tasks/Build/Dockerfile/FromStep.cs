using System.Runtime.CompilerServices;
using Livrable.Diagnostics;
using Livrable.Dockerfile;
using Livrable.Images;
using Livrable.Sources;
using Livrable.Threading;

namespace Livrable.Build.Dockerfile;

/// <summary>
/// FROM (https://docs.docker.com/reference/dockerfile/#from): where a stage starts. In BuildKit's order: a named
/// context with the stage's own name replaces the stage; an earlier stage of that (lowercase) name; <c>scratch</c>;
/// a named context matching the image; else the image (registry, <c>archive:</c>, <c>oci-layout:</c>...), resolved for
/// the stage's platform (<c>--platform</c> expanded with the meta arguments, else the target's). The base config is
/// inherited with <c>created</c> reset and PATH added when missing; <c>FROM scratch</c> gets <c>WorkingDir=/</c>.
/// The base's ONBUILD triggers are returned to run first, and cleared from the stage's config.
/// </summary>
internal static class FromStep
{
    /// <summary>The stage's starting state and the ONBUILD triggers to run before its instructions.</summary>
    [AsyncMethodBuilder(typeof(PrecompiledTaskMethodBuilder<>))]
    public static async Task<(StageState State, IReadOnlyList<Instruction> Triggers)> RunAsync(DockerfileBuildSession session, int index, CancellationToken cancellationToken)
    {
        var stage = session.Graph.Stages[index];
        var from = stage.From;
        string baseName = session.Graph.BaseNames[index];
        var platform = StagePlatform(session, from);
        long started = System.Diagnostics.Stopwatch.GetTimestamp();

        StageState state;
        IReadOnlyList<Instruction> triggers;
        string description;
        if (stage.Name is { } own && session.NamedContextSource(own) is { } replacement)
        {
            var image = await session.ResolveImageAsync(replacement, platform, from.Span, cancellationToken).ConfigureAwait(false);
            state = StageState.FromImage(image, image.Config.Platform, session.EntryIndex);
            triggers = [];
            description = $"{replacement} (named context {own})";
        }
        else if (session.Graph.BaseStage(index) is int b)
        {
            var parent = await session.StageAsync(b, cancellationToken).ConfigureAwait(false);
            state = parent.CloneForChild();
            triggers = session.Graph.Stages[b].Instructions.OfType<OnbuildInstruction>().Select(o => o.Parsed).ToList();
            state.Config.OnBuild = null;
            description = "stage " + baseName;
        }
        else if (baseName == "scratch")
        {
            var image = await ScratchImage.Instance.ResolveAsync(platform, cancellationToken).ConfigureAwait(false);
            (state, triggers) = FromImage(session, image, platform, from.Span);
            state.Config.WorkingDir = "/";
            description = "scratch";
        }
        else
        {
            string source = session.NamedContextSource(baseName) ?? baseName;
            var image = await session.ResolveImageAsync(source, platform, from.Span, cancellationToken).ConfigureAwait(false);
            (state, triggers) = FromImage(session, image, platform, from.Span);
            description = source == baseName ? baseName : $"{source} (named context {baseName})";
        }

        // BuildKit makes sure PATH is always set (not on Windows, where the OS sets it).
        if (state.Platform.Os != "windows" && state.Config.GetEnv("PATH") is null && !state.Config.Env.Any(e => e == "PATH"))
        {
            state.Config.SetEnv("PATH", MetadataSteps.DefaultPath);
            state.Environment["PATH"] = MetadataSteps.DefaultPath;
        }
        // The time to resolve an image (a pull's manifest and config); a stage's own steps have their lines.
        string took = description.StartsWith("stage ", StringComparison.Ordinal) ? "" : " " + Units.Since(started);
        session.Progress(index, $"FROM {description} ({platform}){took}");
        return (state, triggers);
    }

    private static (StageState, IReadOnlyList<Instruction>) FromImage(DockerfileBuildSession session, IImage image, Platform platform, SourceSpan span)
    {
        var state = StageState.FromImage(image, platform, session.EntryIndex);
        var triggers = (state.Config.OnBuild ?? []).Select(t => DockerfileParser.ParseTrigger(t, span, session.Logger)).ToList();
        state.Config.OnBuild = null;
        return (state, triggers);
    }

    private static Platform StagePlatform(DockerfileBuildSession session, FromInstruction from)
    {
        if (from.Platform is null) return session.TargetPlatform;
        string value = session.Expander.Word(from.Platform, session.Arguments.Meta, from.Span);
        if (value.Length == 0)
            throw new LivrableException(DiagnosticCodes.InvalidBaseImage, $"empty platform value from expression {from.Platform}", from.Span);
        try
        {
            return Platform.Parse(value);
        }
        catch (LivrableException e)
        {
            throw new LivrableException(DiagnosticCodes.InvalidBaseImage, $"failed to parse platform {from.Platform}: {e.Message}", from.Span, e);
        }
    }
}
