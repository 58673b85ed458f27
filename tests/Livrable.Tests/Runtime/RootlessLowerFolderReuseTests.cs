using System.Text.Json;
using Livrable.Images;
using Livrable.Sources;
using Livrable.Store;
using Livrable.Tests.Build.Dockerfile;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Runtime;

/// <summary>
/// A rootless build's RUN upper folder becomes the next RUN's lower folder (issue 14's edit loop, for the developers
/// who publish as themselves): the engine started as an unprivileged user with a subordinate id range
/// (<see cref="RootlessRunTests"/>'s user), the adopted folder compared entry by entry with the rootless extraction of
/// the same blob (owners as the host sees them, modes, times, attributes, links, whiteouts), a later RUN and a
/// <c>COPY --from</c> of the stage reading it, and the image the same as when the layer is extracted and as a root
/// build's. Real runc and overlay in the user namespace; every image read by skopeo and umoci.
/// </summary>
public sealed class RootlessLowerFolderReuseTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose()
    {
        // Files the rootless builds gave to subordinate ids: root deletes them all.
        Tools.RunAsync("rm", ["-rf", _temp.Path]).GetAwaiter().GetResult();
        _temp.Dispose();
    }

    /// <summary>
    /// A RUN layer over the 8 MiB a written tar is kept for, with every kind of entry a layer holds and other users of
    /// the namespace (a folder only its owner may read, as apt's <c>partial/</c>), a <c>.pyc</c> the layer rewrites,
    /// then a RUN that reads it and a stage that copies from it.
    /// </summary>
    private const string Dockerfile = """
        FROM scratch AS build
        COPY busybox /bin/busybox
        RUN ["/bin/busybox", "--install", "-s", "/bin"]
        COPY data/ /data/
        COPY m.py m.pyc /ctx/
        RUN mkdir -p /app/__pycache__ && yes 0123456789abcdef | head -c 9437184 > /app/big.bin \
            && cp /ctx/m.py /app/m.py && touch -d '2001-09-09 01:46:40' /app/m.py && cp /ctx/m.pyc /app/__pycache__/m.cpython-38.pyc \
            && rm /data/gone.txt && rm -r /data/sub && mkdir /data/sub && echo new > /data/sub/new.txt && mkfifo -m 600 /data/fifo \
            && ln -s a.txt /data/link && ln /data/a.txt /data/hard && chmod 4755 /data/exe && chown 1000:1000 /data/owned \
            && touch -d '1975-01-01 00:00:00' /data/old.txt && chown 100:101 /data/sub && chmod 2755 /data/sub \
            && mkdir -m 700 /data/private && echo secret > /data/private/s && chmod 600 /data/private/s && ln /data/private/s /data/private/t \
            && chown -R 100:101 /data/private
        RUN (ls -a /data /data/sub; stat -c '%n %a %u:%g %Y %s %h' /app/big.bin /app/m.py /data/exe /data/owned /data/a.txt /data/private/s; \
            stat -c '%n %a %u:%g %F' /data/sub /data/private; cat /data/private/t; od -A n -t u1 -N 16 /app/__pycache__/m.cpython-38.pyc) > /listing.txt

        FROM build
        COPY --from=build /data/private/ /copied/
        COPY --from=build /app/__pycache__/ /copied-pyc/

        """;

    [Fact]
    public async Task A_rootless_RUN_upper_folder_becomes_the_next_RUNs_lower_folder_equal_to_the_rootless_extraction_of_its_blob()
    {
        await RootlessRunTests.EnsureUserAsync();
        string work = Workspace();
        await RootlessRunTests.ChownAsync(work, RootlessRunTests.UserName);
        string[] setpriv = RootlessRunTests.AsUser;
        string state = Path.Combine(work, "state-rootless");

        var first = await RootlessRunTests.RunCliAsync(work, "rootless", setpriv);
        Assert.True(first.Run.ExitCode == 0, first.Run.Stdout + first.Run.Stderr);
        var image = await ReadAsync(work, "first");
        var run = image.Layers[4];
        var details = Details(first.Run.Stdout);
        // Adopted, the .pyc the layer rewrote written back, not extracted from the blob.
        Assert.True(details.Any(l => l.Contains($"lower folder: {run.DiffId.Hex[..12]} adopted from the RUN's upper folder (") && l.Contains(" entries, 1 written back) ")),
            string.Join('\n', details));
        Assert.DoesNotContain(details, l => l.Contains($"extracting layer {run.DiffId} for RUN"));
        string layers = Assert.Single(Directory.GetDirectories(state, "rootfs-userns-*"));
        Assert.Empty(Directory.GetDirectories(layers, "tmp-*"));
        string made = Path.Combine(layers, run.DiffId.Hex);
        Assert.True(File.Exists(made + ".done"));
        var adopted = LowerFolderReuseTests.Snapshot(made);

        // As the host sees them: the build's user for the namespace's root, its subordinate ids for the others.
        var user = await Tools.RunCheckedAsync("id", "-u", RootlessRunTests.UserName);
        var group = await Tools.RunCheckedAsync("id", "-g", RootlessRunTests.UserName);
        string self = $"{user.Stdout.Trim()}:{group.Stdout.Trim()}";
        uint subuid = Range("/etc/subuid"), subgid = Range("/etc/subgid");
        Assert.StartsWith($"CharacterDevice 0 {self} 0:0 []", adopted[Path.Combine("data", "gone.txt")]);
        Assert.Contains("user.overlay.opaque=79", adopted[Path.Combine("data", "sub")]);
        Assert.StartsWith($"Directory 2755 {subuid + 99}:{subgid + 100} ", adopted[Path.Combine("data", "sub")]);
        Assert.StartsWith($"Directory 700 {subuid + 99}:{subgid + 100} ", adopted[Path.Combine("data", "private")]);
        Assert.StartsWith($"RegularFile 600 {subuid + 99}:{subgid + 100} ", adopted[Path.Combine("data", "private", "s")]);
        Assert.StartsWith($"RegularFile 4755 {self} ", adopted[Path.Combine("data", "exe")]);
        Assert.StartsWith($"RegularFile 644 {subuid + 999}:{subgid + 999} ", adopted[Path.Combine("data", "owned")]);
        Assert.StartsWith("Fifo 600", adopted[Path.Combine("data", "fifo")]);
        Assert.False(adopted.ContainsKey("etc"), "the runtime's /etc/hosts and /etc/resolv.conf are not in the layer");
        Assert.False(adopted.ContainsKey("proc"), "the runtime's mount points are not in the layer");

        // The same build with the layer extracted from its blob by the rootless extraction: the same folder, the same image.
        Directory.Delete(layers, recursive: true);
        foreach (string record in Directory.GetFiles(Path.Combine(state, "cache", "steps")))
            if (File.ReadAllText(record).Contains(image.Layers[5].DiffId.ToString(), StringComparison.Ordinal))
                File.Delete(record);
        var second = await RootlessRunTests.RunCliAsync(work, "rootless", setpriv);
        Assert.True(second.Run.ExitCode == 0, second.Run.Stdout + second.Run.Stderr);
        Assert.Contains(Details(second.Run.Stdout), l => l.Contains($"extracting layer {run.DiffId} for RUN"));
        Assert.Equal(LowerFolderReuseTests.Snapshot(made), adopted);
        Assert.Equal(first.Digest, second.Digest);

        // A root build of the same Dockerfile gives the same image.
        var root = await RootlessRunTests.RunCliAsync(work, "root", null);
        Assert.True(root.Run.ExitCode == 0, root.Run.Stdout + root.Run.Stderr);
        Assert.Equal(first.Digest, root.Digest);
    }

    /// <summary>
    /// A rootless RUN whose upper folder cannot be made its layer with certainty (a <c>.pyc</c> over
    /// <see cref="Livrable.Runtime.UpperFolderAdoption.RewrittenLimit"/> whose header the layer rewrote): not adopted,
    /// the reason logged, the next RUN's lower folder extracted from the tar kept in memory, nothing left behind.
    /// </summary>
    [Fact]
    public async Task A_rootless_RUN_upper_folder_that_cannot_be_made_its_layer_is_not_adopted_and_the_tar_is_extracted_instead()
    {
        await RootlessRunTests.EnsureUserAsync();
        string work = Workspace("""
            FROM scratch
            COPY busybox /bin/busybox
            RUN ["/bin/busybox", "--install", "-s", "/bin"]
            COPY m.py big.pyc /ctx/
            RUN mkdir -p /app/__pycache__ /app/private && cp /ctx/m.py /app/m.py && touch -d '2001-09-09 01:46:40' /app/m.py \
                && cp /ctx/big.pyc /app/__pycache__/m.cpython-38.pyc && echo made > /app/private/made.txt && chmod 700 /app/private && chown -R 100:101 /app/private
            RUN cat /app/private/made.txt > /listing.txt

            """);
        File.WriteAllBytes(Path.Combine(work, "context", "big.pyc"),
            LowerFolderReuseTests.PycFor(sourceTime: 1_000_000_000, sourceSize: 4, length: (int)Livrable.Runtime.UpperFolderAdoption.RewrittenLimit + 1));
        await RootlessRunTests.ChownAsync(work, RootlessRunTests.UserName);
        var built = await RootlessRunTests.RunCliAsync(work, "rootless", RootlessRunTests.AsUser);
        Assert.True(built.Run.ExitCode == 0, built.Run.Stdout + built.Run.Stderr);
        var details = Details(built.Run.Stdout);
        Assert.Contains(details, l => l.Contains("lower folder: the RUN's upper folder not adopted (the layer's bytes of 'app/__pycache__/m.cpython-38.pyc' are not the upper folder's)"));
        Assert.Empty(Directory.GetDirectories(Assert.Single(Directory.GetDirectories(Path.Combine(work, "state-rootless"), "rootfs-userns-*")), "tmp-*"));
        string archive = Path.Combine(work, "out-rootless", "image.tar");
        var image = await new ArchiveImage(archive, "v1", new BlobStore(Path.Combine(work, "reader"))).ResolveAsync(Platform.FromRuntimeIdentifier("linux-x64"), CancellationToken.None);
        await ImageValidator.ValidateAsync(image);
        string rootfs = await ImageValidator.ValidateArchiveAsync(archive, image, "v1", Path.Combine(work, "check"));
        Assert.Equal("made\n", File.ReadAllText(Path.Combine(rootfs, "listing.txt")));
        Assert.Contains(details, l => l.Contains($"lower folder: {image.Layers[3].DiffId.Hex[..12]} extracted from the written tar "));
    }

    private string Workspace(string dockerfile = Dockerfile)
    {
        string work = _temp["w-" + Guid.NewGuid().ToString("N")[..8]];
        string context = Path.Combine(work, "context");
        Directory.CreateDirectory(Path.Combine(context, "data", "sub"));
        File.Copy(Tools.Require("busybox"), Path.Combine(context, "busybox"));
        File.WriteAllText(Path.Combine(context, "Dockerfile"), dockerfile);
        foreach (string file in new[] { "a.txt", "gone.txt", "sub/b.txt", "exe", "owned", "old.txt" })
            File.WriteAllText(Path.Combine(context, "data", file), file + "\n");
        File.WriteAllText(Path.Combine(context, "m.py"), "x=1\n");
        File.WriteAllBytes(Path.Combine(context, "m.pyc"), LowerFolderReuseTests.PycFor(sourceTime: 1_000_000_000, sourceSize: 4));
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(Path.Combine(context, "data", "exe"), (UnixFileMode)0b111_101_101);
        return work;
    }

    /// <summary>The image the rootless build wrote, checked by the validator and read by skopeo and umoci, its listings checked.</summary>
    private static async Task<IImage> ReadAsync(string work, string name)
    {
        string archive = Path.Combine(work, "out-rootless", "image.tar");
        var image = await new ArchiveImage(archive, "v1", new BlobStore(Path.Combine(work, "reader-" + name))).ResolveAsync(Platform.FromRuntimeIdentifier("linux-x64"), CancellationToken.None);
        await ImageValidator.ValidateAsync(image);
        string rootfs = await ImageValidator.ValidateArchiveAsync(archive, image, "v1", Path.Combine(work, "check-" + name));
        string listing = File.ReadAllText(Path.Combine(rootfs, "listing.txt"));
        Assert.Contains("/app/big.bin 644 0:0 ", listing);
        Assert.Contains("/data/exe 4755 0:0", listing);
        Assert.Contains("/data/owned 644 1000:1000", listing);
        Assert.Contains("/data/private/s 600 100:101 ", listing);
        Assert.Contains("/data/sub 2755 100:101 directory", listing);
        Assert.Contains("secret\n", listing);
        Assert.DoesNotContain("\ngone.txt\n", listing);
        // The later stage copied the files of the RUN whose upper folder became a lower folder.
        Assert.Equal("secret\n", File.ReadAllText(Path.Combine(rootfs, "copied", "t")));
        var copied = await Tools.RunCheckedAsync("stat", "-c", "%u:%g %a %h", Path.Combine(rootfs, "copied", "s"));
        Assert.Equal("100:101 600 2", copied.Stdout.Trim());
        Assert.Equal(File.ReadAllBytes(Path.Combine(rootfs, "app", "__pycache__", "m.cpython-38.pyc")),
            File.ReadAllBytes(Path.Combine(rootfs, "copied-pyc", "m.cpython-38.pyc")));
        return image;
    }

    /// <summary>The detail lines of the engine's output (JSON lines).</summary>
    private static List<string> Details(string stdout)
    {
        var lines = new List<string>();
        foreach (string line in stdout.Split('\n'))
        {
            if (!line.StartsWith('{')) continue;
            using var doc = JsonDocument.Parse(line);
            if (doc.RootElement.TryGetProperty("kind", out var kind) && kind.GetString() == "detail"
                && doc.RootElement.TryGetProperty("message", out var message) && message.GetString() is { } text)
                lines.Add(text);
        }
        return lines;
    }

    /// <summary>The first host id of the test user's subordinate range in <paramref name="file"/>.</summary>
    private static uint Range(string file)
        => uint.Parse(File.ReadLines(file).First(l => l.StartsWith(RootlessRunTests.UserName + ":", StringComparison.Ordinal)).Split(':')[1],
            System.Globalization.CultureInfo.InvariantCulture);
}
