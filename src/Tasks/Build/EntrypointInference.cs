using Livrable.Diagnostics;

namespace Livrable.Build;

/// <summary>How the app command goes into the image, as the .NET SDK's <c>ContainerAppCommandInstruction</c> says.</summary>
public enum AppCommandInstruction
{
    /// <summary>Not given: chosen from what else is set (see <see cref="EntrypointInference.Resolve"/>).</summary>
    Unset,
    /// <summary>The app command is the ENTRYPOINT; default args are the CMD.</summary>
    Entrypoint,
    /// <summary>The app command is put first in CMD, after the (user's or base image's) ENTRYPOINT.</summary>
    DefaultArgs,
    /// <summary>No app command: the ENTRYPOINT is the user's or the base image's.</summary>
    None,
}

/// <summary>
/// The ENTRYPOINT and CMD of an app image, with the .NET SDK's semantics for <c>ContainerEntrypoint</c>,
/// <c>ContainerAppCommand</c>, <c>ContainerAppCommandArgs</c>, <c>ContainerDefaultArgs</c> and
/// <c>ContainerAppCommandInstruction</c> (https://learn.microsoft.com/dotnet/core/docker/publish-as-container), so
/// that a project moves from the SDK's container support to Livrable unchanged.
/// </summary>
public static class EntrypointInference
{
    /// <summary>
    /// The app command of a published app: the apphost (<c>/app/hello</c>) when the publish output has one, which is
    /// the case of a self-contained app and of a framework-dependent app with <c>UseAppHost</c>; otherwise
    /// <c>dotnet hello.dll</c>. Null when the output has neither (a project that is not an app).
    /// </summary>
    /// <param name="relativePaths">The publish output's relative paths.</param>
    /// <param name="assemblyName">The app's <c>AssemblyName</c>.</param>
    /// <param name="workingDirectory">Where the output goes in the image.</param>
    /// <param name="selfContained">Whether the app carries its runtime; a framework-dependent apphost needs an installed runtime
    /// that <c>dotnet</c> finds better, so the SDK (and Livrable) uses <c>dotnet app.dll</c> for it.</param>
    public static IReadOnlyList<string>? InferAppCommand(IEnumerable<string> relativePaths, string assemblyName, string workingDirectory, bool selfContained)
    {
        var paths = relativePaths.Select(p => p.Replace('\\', '/')).ToHashSet(StringComparer.Ordinal);
        if (selfContained && paths.Contains(assemblyName))
            return [PublishLayers.TargetPath(workingDirectory, assemblyName)];
        if (paths.Contains(assemblyName + ".dll"))
            return ["dotnet", PublishLayers.TargetPath(workingDirectory, assemblyName + ".dll")];
        return null;
    }

    /// <summary>Parses <c>ContainerAppCommandInstruction</c>: empty, <c>Entrypoint</c>, <c>DefaultArgs</c> or <c>None</c> (any case).</summary>
    /// <exception cref="LivrableException">LIV2003 for any other value.</exception>
    public static AppCommandInstruction ParseInstruction(string? value)
    {
        if (string.IsNullOrWhiteSpace(value)) return AppCommandInstruction.Unset;
        if (Enum.TryParse<AppCommandInstruction>(value.Trim(), ignoreCase: true, out var parsed) && parsed != AppCommandInstruction.Unset)
            return parsed;
        throw new LivrableException(DiagnosticCodes.InvalidPropertyValue,
            $"ContainerAppCommandInstruction '{value}' is not one of Entrypoint, DefaultArgs, None.");
    }

    /// <summary>
    /// Computes ENTRYPOINT and CMD. When no instruction is given: with no <paramref name="entrypoint"/>, the app
    /// command is the ENTRYPOINT; with one, the app command goes into CMD before <paramref name="defaultArgs"/>
    /// (DefaultArgs). A null ENTRYPOINT (or CMD) in the result leaves the base image's.
    /// </summary>
    /// <exception cref="LivrableException">LIV2010 when app command args are given without an app command, when the
    /// instruction is <c>None</c> but an app command is given, or when it is <c>Entrypoint</c> and
    /// <c>ContainerEntrypoint</c> is set too.</exception>
    public static (IReadOnlyList<string>? Entrypoint, IReadOnlyList<string>? Cmd) Resolve(
        IReadOnlyList<string> entrypoint,
        IReadOnlyList<string> appCommand,
        IReadOnlyList<string> appCommandArgs,
        IReadOnlyList<string> defaultArgs,
        AppCommandInstruction instruction)
    {
        if (instruction == AppCommandInstruction.Unset)
            instruction = entrypoint.Count > 0 ? AppCommandInstruction.DefaultArgs : AppCommandInstruction.Entrypoint;
        if (appCommandArgs.Count > 0 && appCommand.Count == 0)
            throw new LivrableException(DiagnosticCodes.ConflictingEntrypoint,
                "ContainerAppCommandArgs is set but there is no app command: set ContainerAppCommand too.");
        IReadOnlyList<string> newEntrypoint = entrypoint;
        IReadOnlyList<string> cmd = defaultArgs;
        switch (instruction)
        {
            case AppCommandInstruction.None when appCommand.Count > 0 || appCommandArgs.Count > 0:
                throw new LivrableException(DiagnosticCodes.ConflictingEntrypoint,
                    "ContainerAppCommandInstruction is None but ContainerAppCommand or ContainerAppCommandArgs is set; it would be dropped.");
            case AppCommandInstruction.None:
                break;
            case AppCommandInstruction.DefaultArgs:
                cmd = [.. appCommand, .. appCommandArgs, .. defaultArgs];
                break;
            case AppCommandInstruction.Entrypoint when entrypoint.Count > 0:
                throw new LivrableException(DiagnosticCodes.ConflictingEntrypoint,
                    "ContainerEntrypoint is set and ContainerAppCommandInstruction is Entrypoint: they conflict. Use ContainerAppCommand alone, or set ContainerAppCommandInstruction to DefaultArgs.");
            case AppCommandInstruction.Entrypoint:
                newEntrypoint = [.. appCommand, .. appCommandArgs];
                break;
        }
        return (newEntrypoint.Count > 0 ? newEntrypoint : null, cmd.Count > 0 ? cmd : null);
    }
}
