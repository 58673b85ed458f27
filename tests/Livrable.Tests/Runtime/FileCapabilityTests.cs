using System.Text.Json.Nodes;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Runtime;

/// <summary>
/// File capabilities a RUN sets (<c>setcap</c>, the <c>security.capability</c> attribute) are in its layer as BuildKit's
/// differs write them: the PAX record <c>SCHILY.xattr.security.capability</c>, revision 2 (read with python's tarfile,
/// not Livrable's reader), as root and rootless to the same digest, reproducibly; a later RUN sees them as root (the
/// lower folder, adopted or extracted, has them), and the image run by runc as a non-root user has the capability.
/// A <c>COPY --from</c> of such a file carries them, and the RUN after it has them, root and rootless. The base is a
/// static busybox with the host's <c>setcap</c> and <c>getcap</c> (libcap2-bin) and their libraries.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class FileCapabilityTests : IDisposable
{
    /// <summary><c>cap_net_bind_service=ep</c> as <c>struct vfs_cap_data</c> revision 2: magic 0x02000001, permitted bit 10.</summary>
    internal const string NetBindServiceHex = "0100000200040000000000000000000000000000";

    /// <summary>The host's setcap, run by the copied dynamic loader on the copied libraries (the base has no libc).</summary>
    internal const string SetCap = "/caps/ld.so --library-path /caps /caps/setcap";

    internal const string GetCap = "/caps/ld.so --library-path /caps /caps/getcap";

    private readonly TempDirectory _temp = new();

    public void Dispose()
    {
        Tools.RunAsync("rm", ["-rf", _temp.Path]).GetAwaiter().GetResult();
        _temp.Dispose();
    }

    /// <summary>
    /// <c>setcap</c> and <c>getcap</c> of the host (Debian's libcap2-bin, build/test.sh) with their libraries and loader,
    /// into <c>caps/</c> of <paramref name="context"/>.
    /// </summary>
    internal static async Task CopyCapabilityToolsAsync(string context)
    {
        string caps = Path.Combine(context, "caps");
        Directory.CreateDirectory(caps);
        foreach (string tool in new[] { "setcap", "getcap" })
        {
            string path = Tools.Require(tool);
            File.Copy(path, Path.Combine(caps, tool), overwrite: true);
            var ldd = await Tools.RunCheckedAsync("ldd", path);
            foreach (string line in ldd.Stdout.Split('\n'))
            {
                var match = System.Text.RegularExpressions.Regex.Match(line, @"(/\S+)\s+\(0x");
                if (!match.Success) continue;
                string library = match.Groups[1].Value;
                string name = Path.GetFileName(library).StartsWith("ld-linux", StringComparison.Ordinal) ? "ld.so" : Path.GetFileName(library);
                File.Copy(library, Path.Combine(caps, name), overwrite: true);
            }
        }
        foreach (string file in Directory.GetFiles(caps)) File.SetUnixFileMode(file, (UnixFileMode)Convert.ToInt32("755", 8));
    }

    /// <summary>
    /// Every layer entry of an image tarball (docker or OCI, the layers plain or gzip) that has a
    /// <c>SCHILY.xattr.*</c> PAX record, as <c>name key hex</c> lines sorted, read by python's tarfile.
    /// </summary>
    internal static async Task<List<string>> XattrRecordsAsync(string archive)
    {
        string output = await Tools.PythonAsync("""
            import sys, tarfile
            lines = []
            with tarfile.open(sys.argv[1]) as image:
                for member in image.getmembers():
                    if not member.isfile() or member.name.endswith('.json') or member.name.endswith('oci-layout'):
                        continue
                    try:
                        layer = tarfile.open(fileobj=image.extractfile(member), mode='r:*')
                    except tarfile.TarError:
                        continue
                    with layer:
                        for entry in layer:
                            for key, value in entry.pax_headers.items():
                                if key.startswith('SCHILY.xattr.'):
                                    lines.append('%s %s %s' % (entry.name, key, value.encode('utf-8', 'surrogateescape').hex()))
            sys.stdout.write('\n'.join(sorted(lines)))
            """, archive);
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();
    }

    private string Workspace(string dockerfile) => RootlessRunTests.Workspace(_temp, dockerfile);

    private const string Capped = $"""
        FROM scratch
        COPY busybox /bin/busybox
        RUN ["/bin/busybox", "--install", "-s", "/bin"]
        COPY caps /caps
        RUN mkdir /capped && cp /bin/busybox /capped/busybox && ln /capped/busybox /capped/link && echo plain > /capped/plain \
            && {SetCap} cap_net_bind_service=+ep /capped/busybox

        """;

    [Fact]
    public async Task A_RUN_s_setcap_is_in_its_layer_as_BuildKit_writes_it_and_a_later_RUN_and_the_image_have_the_capability()
    {
        string work = Workspace(Capped + $"RUN {GetCap} /capped/busybox /capped/plain > /getcap.txt\n");
        await CopyCapabilityToolsAsync(Path.Combine(work, "context"));

        var first = await RootlessRunTests.RunCliAsync(work, "root", null);
        Assert.True(first.Run.ExitCode == 0, first.Run.Stdout + first.Run.Stderr);
        Assert.DoesNotContain("LIV5016", first.Run.Stdout);
        // Reproducible: another state folder, the same digest.
        var second = await RootlessRunTests.RunCliAsync(work, "root-again", null);
        Assert.True(second.Run.ExitCode == 0, second.Run.Stdout + second.Run.Stderr);
        Assert.Equal(first.Digest, second.Digest);

        string archive = Path.Combine(work, "out-root", "image.tar");
        // Both names of the file carry the record (the hard link too, as containerd's and moby's writers do); no other file.
        Assert.Equal([$"capped/busybox SCHILY.xattr.security.capability {NetBindServiceHex}", $"capped/link SCHILY.xattr.security.capability {NetBindServiceHex}"],
            await XattrRecordsAsync(archive));

        var image = await new Livrable.Sources.ArchiveImage(archive, "v1", new Livrable.Store.BlobStore(Path.Combine(work, "reader")))
            .ResolveAsync(Livrable.Images.Platform.FromRuntimeIdentifier("linux-x64"), CancellationToken.None);
        await ImageValidator.ValidateAsync(image);
        string rootfs = await ImageValidator.ValidateArchiveAsync(archive, image, "v1", Path.Combine(work, "check"));
        // The later RUN ran on a lower folder whose file has them.
        Assert.Equal("/capped/busybox cap_net_bind_service=ep\n", File.ReadAllText(Path.Combine(rootfs, "getcap.txt")));

        // umoci unpacked them; runc runs the file as uid 1000 with the capability effective (CapEff bit 10), the plain
        // busybox without.
        Assert.Equal(NetBindServiceHex, Convert.ToHexStringLower(Livrable.Interop.Native.ReadXattr(Path.Combine(rootfs, "capped", "busybox"), "security.capability") ?? []));
        string bundle = Path.GetDirectoryName(rootfs)!;
        string configPath = Path.Combine(bundle, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
        config["process"]!["user"] = new JsonObject { ["uid"] = 1000, ["gid"] = 1000 };
        config["process"]!["noNewPrivileges"] = false;
        // umoci's bundle gives the process ambient capabilities; only the bounding set here, so the file's are the only ones.
        config["process"]!["capabilities"] = new JsonObject { ["bounding"] = new JsonArray("CAP_NET_BIND_SERVICE"), ["permitted"] = new JsonArray(),
            ["effective"] = new JsonArray(), ["inheritable"] = new JsonArray(), ["ambient"] = new JsonArray() };
        config["process"]!["args"] = new JsonArray("/bin/sh", "-c", "grep CapEff /proc/self/status; /capped/busybox grep CapEff /proc/self/status");
        File.WriteAllText(configPath, config.ToJsonString());
        string output = await Runc.RunAsync(bundle);
        Assert.Equal("CapEff:\t0000000000000000\nCapEff:\t0000000000000400", output.Trim());
    }

    /// <summary>
    /// Rootless: the RUN's setcap is read before the upper folder is given away, and a later RUN runs on a lower folder
    /// whose file root of the namespace gave the capabilities (GNU tar): the same digest as root's, its getcap included.
    /// </summary>
    [Fact]
    public async Task A_rootless_RUN_s_setcap_gives_the_root_layer_and_a_later_rootless_RUN_has_the_capability()
    {
        await RootlessRunTests.EnsureUserAsync();
        string work = Workspace(Capped + $"RUN {GetCap} /capped/busybox /capped/link > /getcap.txt\n");
        await CopyCapabilityToolsAsync(Path.Combine(work, "context"));
        await RootlessRunTests.ChownAsync(work, RootlessRunTests.UserName);

        var rootless = await RootlessRunTests.RunCliAsync(work, "rootless", RootlessRunTests.AsUser);
        Assert.True(rootless.Run.ExitCode == 0, rootless.Run.Stdout + rootless.Run.Stderr);
        var root = await RootlessRunTests.RunCliAsync(work, "root", null);
        Assert.True(root.Run.ExitCode == 0, root.Run.Stdout + root.Run.Stderr);
        Assert.Equal(root.Digest, rootless.Digest);
        Assert.Equal([$"capped/busybox SCHILY.xattr.security.capability {NetBindServiceHex}", $"capped/link SCHILY.xattr.security.capability {NetBindServiceHex}"],
            await XattrRecordsAsync(Path.Combine(work, "out-rootless", "image.tar")));
        Assert.DoesNotContain("LIV5032", rootless.Run.Stdout + rootless.Run.Stderr);

        string archive = Path.Combine(work, "out-rootless", "image.tar");
        var image = await new Livrable.Sources.ArchiveImage(archive, "v1", new Livrable.Store.BlobStore(Path.Combine(work, "reader")))
            .ResolveAsync(Livrable.Images.Platform.FromRuntimeIdentifier("linux-x64"), CancellationToken.None);
        string rootfs = await ImageValidator.ValidateArchiveAsync(archive, image, "v1", Path.Combine(work, "check"));
        Assert.Equal("/capped/busybox cap_net_bind_service=ep\n/capped/link cap_net_bind_service=ep\n", File.ReadAllText(Path.Combine(rootfs, "getcap.txt")));
    }

    /// <summary>
    /// A <c>COPY --from</c> of a stage's file with capabilities carries them (as BuildKit's copy does:
    /// <c>FileCapabilityDifferentialTests</c>), and the RUN after it sees them in its lower folder, the one extracted
    /// from the COPY's written tar: root and rootless (GNU tar in the namespace) alike, to the same digest.
    /// </summary>
    [Fact]
    public async Task A_COPY_from_s_capabilities_are_there_for_the_next_RUN_root_and_rootless()
    {
        await RootlessRunTests.EnsureUserAsync();
        string work = Workspace(Capped.Replace("FROM scratch", "FROM scratch AS capped", StringComparison.Ordinal) + $"""
            FROM capped
            COPY --from=capped /capped /copied
            RUN {GetCap} /copied/busybox /copied/link > /getcap.txt

            """);
        await CopyCapabilityToolsAsync(Path.Combine(work, "context"));
        await RootlessRunTests.ChownAsync(work, RootlessRunTests.UserName);

        var root = await RootlessRunTests.RunCliAsync(work, "root", null);
        Assert.True(root.Run.ExitCode == 0, root.Run.Stdout + root.Run.Stderr);
        var rootless = await RootlessRunTests.RunCliAsync(work, "rootless", RootlessRunTests.AsUser);
        Assert.True(rootless.Run.ExitCode == 0, rootless.Run.Stdout + rootless.Run.Stderr);
        Assert.Equal(root.Digest, rootless.Digest);
        Assert.DoesNotContain("LIV5032", rootless.Run.Stdout + rootless.Run.Stderr);

        string archive = Path.Combine(work, "out-rootless", "image.tar");
        // The copy's hard link carries the record too, as BuildKit's differ writes it (another name of the same file).
        var records = await XattrRecordsAsync(archive);
        Assert.Contains($"copied/busybox SCHILY.xattr.security.capability {NetBindServiceHex}", records);
        Assert.Contains($"copied/link SCHILY.xattr.security.capability {NetBindServiceHex}", records);
        var image = await new Livrable.Sources.ArchiveImage(archive, "v1", new Livrable.Store.BlobStore(Path.Combine(work, "reader")))
            .ResolveAsync(Livrable.Images.Platform.FromRuntimeIdentifier("linux-x64"), CancellationToken.None);
        string rootfs = await ImageValidator.ValidateArchiveAsync(archive, image, "v1", Path.Combine(work, "check"));
        Assert.Equal("/copied/busybox cap_net_bind_service=ep\n/copied/link cap_net_bind_service=ep\n", File.ReadAllText(Path.Combine(rootfs, "getcap.txt")));
    }
}
