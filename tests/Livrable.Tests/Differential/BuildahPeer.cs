using System.Text.Json;
using Livrable.Tests.Infrastructure;

namespace Livrable.Tests.Differential;

/// <summary>What the peer built: its config (the Docker form, which holds Healthcheck, Shell and OnBuild) and its root filesystem as umoci unpacked it.</summary>
public sealed record PeerImage(string ConfigJson, string RootFs)
{
    /// <summary>The name the peer gave the image in its own store (BuildKit's), for a later build's FROM; null for buildah.</summary>
    public string? Tag { get; init; }
}

/// <summary>
/// buildah (Debian's <c>buildah</c>) as a daemonless peer builder, with its own containers storage under a temporary
/// folder: <c>vfs</c> driver, private graph root and run root, a storage.conf and a signature policy of its own, so a
/// test never reads or writes the host's containers storage. RUN-free Dockerfiles only (the isolation is
/// <c>chroot</c>, which is never used). Images are built with <c>--format docker</c> (the OCI config has no
/// Healthcheck, Shell or OnBuild, and buildah drops them with a warning), read back with <c>buildah inspect</c>, and
/// pushed to an OCI layout that <c>umoci unpack</c> turns into a root filesystem.
/// </summary>
public sealed class BuildahPeer : IDisposable
{
    private readonly Dictionary<string, string> _environment;
    private int _builds;

    /// <summary>The folder holding the storage, its configuration and every image's output.</summary>
    public string Root { get; } = Path.Combine(Path.GetTempPath(), "livrable-buildah-" + Guid.NewGuid().ToString("N")[..12]);

    public BuildahPeer()
    {
        Tools.Require("buildah");
        Directory.CreateDirectory(Path.Combine(Root, "tmp"));
        string storageConf = Path.Combine(Root, "storage.conf");
        File.WriteAllText(storageConf, $"""
            [storage]
            driver = "vfs"
            graphroot = "{Path.Combine(Root, "graph")}"
            runroot = "{Path.Combine(Root, "run")}"
            """);
        File.WriteAllText(PolicyPath, """{"default":[{"type":"insecureAcceptAnything"}]}""");
        // No search registries: a short name can never reach the network; every base is pulled from a file first.
        File.WriteAllText(Path.Combine(Root, "registries.conf"), "unqualified-search-registries = []\n");
        _environment = new Dictionary<string, string>
        {
            ["CONTAINERS_STORAGE_CONF"] = storageConf,
            ["CONTAINERS_REGISTRIES_CONF"] = Path.Combine(Root, "registries.conf"),
            ["BUILDAH_ISOLATION"] = "chroot",
            ["TMPDIR"] = Path.Combine(Root, "tmp"),
        };
    }

    private string PolicyPath => Path.Combine(Root, "policy.json");

    private async Task<ToolResult> RunAsync(params string[] arguments)
    {
        string[] global = ["--root", Path.Combine(Root, "graph"), "--runroot", Path.Combine(Root, "run"), "--storage-driver", "vfs"];
        return (await Tools.RunAsync("buildah", [.. global, .. arguments], environment: _environment)).EnsureSuccess();
    }

    /// <summary>Pulls an image tarball (docker-archive form) into the private storage under <paramref name="name"/> (<c>localhost/x:1</c>).</summary>
    public async Task LoadAsync(string archivePath, string name)
    {
        string id = (await RunAsync("pull", "--signature-policy", PolicyPath, "--quiet", "docker-archive:" + archivePath)).Stdout.Trim();
        await RunAsync("tag", id, name);
    }

    /// <summary>
    /// <c>buildah build</c> of <c>context/Dockerfile</c> with <paramref name="buildArgs"/> and <paramref name="target"/>,
    /// never pulling; returns the config and the unpacked root filesystem.
    /// </summary>
    public async Task<PeerImage> BuildAsync(string context, IReadOnlyDictionary<string, string> buildArgs, string? target = null)
    {
        int build = Interlocked.Increment(ref _builds);
        string name = $"localhost/livrable-diff/peer:{build}";
        var arguments = new List<string>
        {
            "build", "--signature-policy", PolicyPath, "--isolation", "chroot", "--format", "docker", "--pull-never",
            "--layers=false", "-f", Path.Combine(context, "Dockerfile"), "-t", name,
        };
        foreach (var (k, v) in buildArgs) arguments.AddRange(["--build-arg", $"{k}={v}"]);
        if (target is not null) arguments.AddRange(["--target", target]);
        arguments.Add(context);
        await RunAsync([.. arguments]);

        string inspect = (await RunAsync("inspect", "--type", "image", name)).Stdout;
        string config;
        using (var doc = JsonDocument.Parse(inspect))
            config = doc.RootElement.GetProperty("Docker").GetRawText();

        string work = Path.Combine(Root, "out", build.ToString());
        string layout = Path.Combine(work, "oci");
        Directory.CreateDirectory(work);
        await RunAsync("push", "--signature-policy", PolicyPath, "--quiet", name, $"oci:{layout}:peer");
        await Tools.RunCheckedAsync("umoci", "unpack", "--image", $"{layout}:peer", Path.Combine(work, "bundle"));
        return new PeerImage(config, Path.Combine(work, "bundle", "rootfs"));
    }

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
