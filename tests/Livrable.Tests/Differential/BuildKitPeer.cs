using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Differential;

/// <summary>
/// BuildKit as a peer builder: the one dockerd 20.10 embeds (Debian's <c>docker.io</c>), in a private daemon started by
/// the <see cref="Dockerd"/> fixture (own socket, data and exec roots, no iptables, no bridge). Builds run with
/// <c>DOCKER_BUILDKIT=1 docker build --network=none</c> through Debian's own CLI (<c>/usr/bin/docker</c>, 20.10, which
/// talks to the embedded BuildKit; a newer CLI earlier on PATH would need buildx). Bases come from tarballs
/// (<c>docker load</c>), never from a registry. A result is read back with <c>docker save</c> (its config as saved),
/// turned into an OCI layout by skopeo and unpacked by umoci, as Livrable's own images are.
/// </summary>
public sealed class BuildKitPeer : IAsyncLifetime
{
    private readonly Dockerd _dockerd = new();
    private readonly TempDirectory _temp = new();
    private int _builds;

    /// <summary>Debian's docker CLI when it is there (the one that drives dockerd 20.10's BuildKit), else docker on PATH.</summary>
    private static string Cli => File.Exists("/usr/bin/docker") ? "/usr/bin/docker" : "docker";

    private Dictionary<string, string> Environment => new(_dockerd.Environment) { ["DOCKER_BUILDKIT"] = "1" };

    public Task InitializeAsync()
    {
        Tools.Require("skopeo");
        Tools.Require("umoci");
        return _dockerd.InitializeAsync();
    }

    /// <summary><c>docker load</c> of an image tarball (it keeps the names the tarball gives).</summary>
    public async Task LoadAsync(string archivePath)
        => (await Tools.RunAsync(Cli, ["load", "-i", archivePath], environment: Environment)).EnsureSuccess();

    /// <summary>
    /// <c>docker build</c> of <c>context/Dockerfile</c> with BuildKit, <paramref name="buildArgs"/> and
    /// <paramref name="target"/>, no network; the result as the tool ran it (a failed build is not an exception).
    /// </summary>
    public Task<ToolResult> TryBuildAsync(string context, string tag, IReadOnlyDictionary<string, string> buildArgs, string? target = null)
    {
        var arguments = new List<string> { "build", "--network=none", "--progress=plain", "-t", tag };
        foreach (var (k, v) in buildArgs) arguments.AddRange(["--build-arg", $"{k}={v}"]);
        if (target is not null) arguments.AddRange(["--target", target]);
        arguments.Add(context);
        return Tools.RunAsync(Cli, arguments, TimeSpan.FromMinutes(4), environment: Environment);
    }

    /// <summary>Builds (which must succeed) and returns the image's config and unpacked root filesystem.</summary>
    public async Task<PeerImage> BuildAsync(string context, IReadOnlyDictionary<string, string> buildArgs, string? target = null)
    {
        int build = Interlocked.Increment(ref _builds);
        string tag = $"livrable-diff/buildkit:{build}";
        (await TryBuildAsync(context, tag, buildArgs, target)).EnsureSuccess();

        string work = _temp[build.ToString()];
        Directory.CreateDirectory(work);
        string saved = Path.Combine(work, "saved.tar");
        (await Tools.RunAsync(Cli, ["save", "-o", saved, tag], environment: Environment)).EnsureSuccess();
        string layout = Path.Combine(work, "oci");
        await Tools.RunCheckedAsync("skopeo", "copy", "--quiet", "docker-archive:" + saved, $"oci:{layout}:peer");
        // The config as docker save wrote it: converting to OCI would drop Healthcheck, Shell and OnBuild.
        string config = await Tools.PythonAsync("""
            import json, sys, tarfile
            with tarfile.open(sys.argv[1]) as t:
                name = json.load(t.extractfile('manifest.json'))[0]['Config']
                sys.stdout.write(t.extractfile(name).read().decode())
            """, saved);
        await Tools.RunCheckedAsync("umoci", "unpack", "--image", $"{layout}:peer", Path.Combine(work, "bundle"));
        return new PeerImage(config, Path.Combine(work, "bundle", "rootfs")) { Tag = tag };
    }

    public async Task DisposeAsync()
    {
        await _dockerd.DisposeAsync();
        _temp.Dispose();
    }
}
