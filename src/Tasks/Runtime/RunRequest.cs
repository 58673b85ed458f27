using Livrable.Images;

namespace Livrable.Runtime;

/// <summary>How a RUN reaches the network: BuildKit's <c>--network</c> values.</summary>
public enum RunNetwork
{
    /// <summary>The host's network (BuildKit's default with its host network provider): what the host reaches, the RUN reaches.</summary>
    Default,

    /// <summary>A network namespace of its own, with only the loopback interface.</summary>
    None,

    /// <summary>The host's network namespace (same as <see cref="Default"/> here).</summary>
    Host,
}

/// <summary>What a mount of a RUN is.</summary>
public enum RunMountType
{
    /// <summary>A host folder or file, or a folder of layers merged, bound at the target.</summary>
    Bind,

    /// <summary>An empty tmpfs.</summary>
    Tmpfs,
}

/// <summary>
/// One mount of a RUN (<c>--mount</c>), never part of the layer. A bind's source is either <see cref="HostPath"/> (a
/// folder or file on the host, already checked to be where it may be read) or <see cref="Layers"/> (a root
/// filesystem made of layers, base first, with <see cref="SubPath"/> inside it). A writable bind's writes are discarded.
/// </summary>
public sealed record RunMount(RunMountType Type, string Target)
{
    public string? HostPath { get; init; }
    public IReadOnlyList<ILayer>? Layers { get; init; }

    /// <summary>The path inside <see cref="Layers"/>' root filesystem ("/" for all of it).</summary>
    public string SubPath { get; init; } = "/";

    public bool ReadOnly { get; init; }

    /// <summary>A writable bind of <see cref="HostPath"/> whose writes stay there (a cache); otherwise they are discarded.</summary>
    public bool KeepWrites { get; init; }

    /// <summary>A tmpfs's size in bytes; null for the kernel's default.</summary>
    public long? Size { get; init; }
}

/// <summary>
/// One command to run in a container over a root filesystem made of layers; the engine's side of a RUN, free of
/// Dockerfile types. The result is the layer of what the command changed.
/// </summary>
public sealed record RunRequest
{
    /// <summary>The root filesystem's layers, base first (base image layers and the build's own, alike).</summary>
    public required IReadOnlyList<ILayer> Layers { get; init; }

    /// <summary>The process's arguments (already wrapped in a shell when the instruction was in shell form).</summary>
    public required IReadOnlyList<string> Arguments { get; init; }

    /// <summary>The process's environment, <c>NAME=value</c>.</summary>
    public IReadOnlyList<string> Environment { get; init; } = [];

    /// <summary>The working directory (absolute); created when missing.</summary>
    public string WorkingDirectory { get; init; } = "/";

    public long Uid { get; init; }
    public long Gid { get; init; }
    public IReadOnlyList<long> AdditionalGids { get; init; } = [];

    public RunNetwork Network { get; init; } = RunNetwork.Default;
    public IReadOnlyList<RunMount> Mounts { get; init; } = [];

    /// <summary>The container's host name, also in its <c>/etc/hosts</c>; BuildKit's.</summary>
    public string Hostname { get; init; } = "buildkitsandbox";

    /// <summary>The OCI runtime program: a path or a name on PATH; <c>runc</c> when null.</summary>
    public string? RuntimePath { get; init; }

    /// <summary>
    /// The folder for this step's files (the bundle, the overlay's upper folder that the result's entries read from);
    /// the caller deletes it, after the layer is written. Null: a folder under the state folder, deleted with the result.
    /// </summary>
    public string? StepDirectory { get; init; }

    /// <summary>Receives every line the command writes (stdout and stderr), as it comes.</summary>
    public Action<string>? Output { get; init; }

    /// <summary>What starts the detailed log's phase lines (layers, overlay, runtime, diff), such as the step's <c>  #6 </c>.</summary>
    public string DetailPrefix { get; init; } = "  ";

    /// <summary>
    /// The time the layer gives the files the command wrote (the build's epoch, <c>Layers/LayerWriter</c>'s rule): the
    /// Python bytecode caches among them are made current for it (<see cref="Livrable.Layers.BytecodeTimes"/>).
    /// </summary>
    public DateTimeOffset FileTime { get; init; } = Livrable.Layers.Reproducibility.DefaultEpoch;
}
