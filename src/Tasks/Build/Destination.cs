namespace Livrable.Build;

/// <summary>
/// Where a built image goes, decided once from the request (<see cref="ImageBuildRequest.Destination"/>), in this
/// order: a registry (<c>ContainerRegistry</c>), a local engine (<c>LocalRegistry</c>), an OCI layout folder
/// (<c>ContainerOciLayoutPath</c>), else the image tarball (<c>ContainerArchiveOutputPath</c>, Livrable's default).
/// </summary>
public abstract record Destination
{
    /// <summary>The destination of <paramref name="request"/>; null when it names none.</summary>
    public static Destination? Of(ImageBuildRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Registry is { } registry) return new RegistryDestination(registry);
        if (request.LocalEngine is { } engine) return new LocalEngineDestination(engine);
        if (!string.IsNullOrEmpty(request.OciLayoutPath)) return new LayoutDestination(request.OciLayoutPath);
        if (!string.IsNullOrEmpty(request.ArchivePath)) return new ArchiveDestination(request.ArchivePath);
        return null;
    }

    /// <summary>The destination as messages name it: the registry, the engine, the folder or the file.</summary>
    public abstract string Name { get; }
}

/// <summary>Pushed to a registry (<c>host[:port]</c>).</summary>
public sealed record RegistryDestination(string Registry) : Destination
{
    public override string Name => Registry;
}

/// <summary>Loaded into <c>docker</c> or <c>podman</c>.</summary>
public sealed record LocalEngineDestination(string Engine) : Destination
{
    public override string Name => Engine;
}

/// <summary>Written into an OCI image layout folder.</summary>
public sealed record LayoutDestination(string Directory) : Destination
{
    public override string Name => Directory;
}

/// <summary>Written as an image tarball (docker-archive and OCI layout in one file).</summary>
public sealed record ArchiveDestination(string Path) : Destination
{
    public override string Name => Path;
}
