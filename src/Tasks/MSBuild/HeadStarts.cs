using Livrable.Build;
using Microsoft.Build.Framework;

namespace Livrable.MSBuild;

/// <summary>
/// Where <see cref="StartContainerImageBuild"/> leaves an <see cref="ImageBuildHeadStart"/> for the same project's
/// <see cref="BuildContainerImage"/>: MSBuild's registered task objects with the <see cref="RegisteredTaskObjectLifetime.Build"/>
/// lifetime, keyed by the project file and the build's global properties (one project instance: a per-platform inner
/// build is another). MSBuild disposes what nobody took when the build ends, so a node kept for the next build
/// (node reuse) never hands it on: that build starts its own.
/// </summary>
internal static class HeadStarts
{
    /// <summary>
    /// Starts <paramref name="request"/>'s head start and registers it for this project instance; null when there is
    /// nothing to start or one is registered already (this project's image step will take that one).
    /// </summary>
    public static ImageBuildHeadStart? Start(IBuildEngine4 engine, string projectPath, ImageBuildHeadStartRequest request)
    {
        string key = Key(engine, projectPath);
        if (engine.GetRegisteredTaskObject(key, RegisteredTaskObjectLifetime.Build) is not null) return null;
        var started = ImageBuildHeadStart.Start(request);
        if (started is not null) engine.RegisterTaskObject(key, started, RegisteredTaskObjectLifetime.Build, allowEarlyCollection: false);
        return started;
    }

    /// <summary>The head start this project instance registered, unregistered (the caller owns it now); null when none.</summary>
    public static ImageBuildHeadStart? Take(IBuildEngine engine, string? projectPath)
        => Registered(engine, projectPath, (registry, key) => registry.UnregisterTaskObject(key, RegisteredTaskObjectLifetime.Build));

    /// <summary>The head start this project instance registered, left registered (the image step takes it); null when none.</summary>
    public static ImageBuildHeadStart? Peek(IBuildEngine engine, string? projectPath)
        => Registered(engine, projectPath, (registry, key) => registry.GetRegisteredTaskObject(key, RegisteredTaskObjectLifetime.Build));

    /// <summary>What <paramref name="access"/> finds under this project instance's key; null in a task host that keeps no registered objects.</summary>
    private static ImageBuildHeadStart? Registered(IBuildEngine engine, string? projectPath, Func<IBuildEngine4, string, object?> access)
    {
        if (engine is not IBuildEngine4 registry || string.IsNullOrEmpty(projectPath)) return null;
        try
        {
            return access(registry, Key(engine, projectPath)) as ImageBuildHeadStart;
        }
        catch (Exception e) when (e is NotImplementedException or NotSupportedException or InvalidOperationException)
        {
            // A task host that keeps no registered objects: there is nothing to take or look at.
            return null;
        }
    }

    private static string Key(IBuildEngine engine, string projectPath)
    {
        var key = new System.Text.StringBuilder("Livrable.ImageBuildHeadStart\n").Append(Path.GetFullPath(projectPath));
        if (engine is IBuildEngine6 withProperties)
            foreach (var (name, value) in withProperties.GetGlobalProperties().OrderBy(p => p.Key, StringComparer.OrdinalIgnoreCase))
                key.Append('\n').Append(name).Append('=').Append(value);
        return key.ToString();
    }
}
