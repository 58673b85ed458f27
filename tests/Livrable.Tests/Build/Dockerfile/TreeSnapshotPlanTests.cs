using System.Text.RegularExpressions;
using Livrable.Build;
using Livrable.Images;
using Livrable.Sources;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Build.Dockerfile;

/// <summary>
/// A COPY or WORKDIR over layers the step cache reused plans against the snapshot of their merged tree
/// (<c>Filesystem/TreeSnapshot</c>, issue 14) instead of loading it, and writes the layer the loaded tree gives: the
/// same build made three ways in one state folder (cold, every plan over the tree in memory; the steps after the
/// RUNs again with the snapshots deleted, each plan over the tree loaded from the entry indexes; once more, each plan
/// over the snapshot) writes the same layers and the same image. The destinations are the tricky ones: a folder a
/// later RUN deleted (a whiteout), a folder under an opaque one, a symbolically linked parent, a file replaced by a
/// folder and a folder by a file, a link to a file written through, <c>--chown</c> by name with <c>--chmod</c>, and
/// WORKDIR through a link. Real runc and overlay; the image read by skopeo and umoci.
/// </summary>
public sealed class TreeSnapshotPlanTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private const string Dockerfile = """
        FROM scratch AS base
        COPY busybox /bin/busybox
        RUN ["/bin/busybox", "--install", "-s", "/bin"]
        RUN mkdir -p /etc /usr/lib /usr/share/zoneinfo /opt/cache/sub /data/wasdir /var/thing /home/app \
         && echo 'root:x:0:0:root:/root:/bin/sh' > /etc/passwd && echo 'app:x:1000:1000::/home/app:/bin/sh' >> /etc/passwd \
         && echo 'root:x:0:' > /etc/group && echo 'app:x:1000:' >> /etc/group \
         && ln -s usr/lib /lib && echo utc > /usr/share/zoneinfo/UTC && ln -s /usr/share/zoneinfo/UTC /etc/localtime \
         && echo b > /opt/cache/sub/b && echo w > /data/wasdir/w && echo t > /var/thing/t && echo file > /srv \
         && chmod 0700 /home/app && chown 1000:1000 /home/app
        RUN rm -r /data/wasdir /opt/cache /var/thing /srv && mkdir -m 0750 /opt/cache && chown 1000:1000 /opt/cache \
         && echo other > /opt/cache/other && echo now-a-file > /var/thing && mkdir -m 0711 /srv && chown 7:8 /srv

        FROM base AS wasdir
        COPY f.txt /data/wasdir
        FROM base AS opaque
        COPY f.txt /opt/cache/sub
        FROM base AS linked
        COPY f.txt /lib/x/
        FROM base AS replaced
        COPY f.txt /srv/
        COPY dir/ /srv/dir/
        FROM base AS dirfile
        COPY f.txt /var/thing
        FROM base AS owned
        COPY --chown=app:app --chmod=0640 f.txt /home/app/
        FROM base AS through
        COPY f.txt /etc/localtime
        FROM base AS work
        WORKDIR /lib/work

        FROM scratch
        COPY --from=wasdir /data /wasdir
        COPY --from=opaque /opt /opaque
        COPY --from=linked /usr/lib /linked
        COPY --from=replaced /srv /replaced
        COPY --from=dirfile /var /dirfile
        COPY --from=owned /home /owned
        COPY --from=through /usr/share/zoneinfo /through
        COPY --from=work /usr/lib /work

        """;

    /// <summary>The COPY steps planned over the base stage's layers (the first step of each stage after it).</summary>
    private const int PlansOverBase = 7;

    private sealed record Built(IImage Image, RecordingLogger Logger)
    {
        public IEnumerable<string> Details => Logger.Lines.Where(l => l.StartsWith("detail: ", StringComparison.Ordinal));

        /// <summary>Each layer a COPY or WORKDIR after the base stage wrote: its history and digest, sorted.</summary>
        public IReadOnlyList<string> Written => Details.Select(l => Regex.Match(l, @"^detail:\s+((?:COPY|WORKDIR) .*: [0-9a-f]{12}) \(")).Where(m => m.Success)
            .Select(m => m.Groups[1].Value).Where(w => !w.Contains("busybox", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();

        public int Plans(string kind) => Details.Count(l => l.Contains("plan: the tree (" + kind, StringComparison.Ordinal));
    }

    private async Task<Built> BuildAsync(string state, string name)
    {
        string work = _temp[name];
        string context = Path.Combine(work, "context");
        Directory.CreateDirectory(Path.Combine(context, "dir", "sub"));
        File.Copy(Tools.Require("busybox"), Path.Combine(context, "busybox"));
        File.WriteAllText(Path.Combine(context, "Dockerfile"), Dockerfile);
        File.WriteAllText(Path.Combine(context, "f.txt"), "copied\n");
        File.WriteAllText(Path.Combine(context, "dir", "sub", "g.txt"), "in a folder\n");
        var request = TestRequests.Dockerfile(context, "livrable-test/snapshot", Path.Combine(work, "out", "image.tar"), state);
        var logger = new RecordingLogger();
        await ImageBuilder.BuildAsync(request, logger, CancellationToken.None);
        var image = await new ArchiveImage(request.ArchivePath!, "v1", new BlobStore(Path.Combine(work, "reader"))).ResolveAsync(request.Platform, CancellationToken.None);
        await ImageValidator.ValidateAsync(image);
        string rootfs = await ImageValidator.ValidateArchiveAsync(request.ArchivePath!, image, "v1", Path.Combine(work, "check"));
        // What each destination became, as umoci unpacks it.
        Assert.Equal("copied\n", File.ReadAllText(Path.Combine(rootfs, "wasdir", "wasdir")));
        Assert.Equal("copied\n", File.ReadAllText(Path.Combine(rootfs, "opaque", "cache", "sub")));
        Assert.False(File.Exists(Path.Combine(rootfs, "opaque", "cache", "sub", "b")));
        Assert.Equal("copied\n", File.ReadAllText(Path.Combine(rootfs, "linked", "x", "f.txt")));
        Assert.Equal("copied\n", File.ReadAllText(Path.Combine(rootfs, "replaced", "f.txt")));
        Assert.Equal("in a folder\n", File.ReadAllText(Path.Combine(rootfs, "replaced", "dir", "sub", "g.txt")));
        Assert.Equal("copied\n", File.ReadAllText(Path.Combine(rootfs, "dirfile", "thing")));
        Assert.Equal("copied\n", File.ReadAllText(Path.Combine(rootfs, "owned", "app", "f.txt")));
        Assert.Equal("copied\n", File.ReadAllText(Path.Combine(rootfs, "through", "UTC")));
        Assert.True(Directory.Exists(Path.Combine(rootfs, "work", "work")));
        return new Built(image, logger);
    }

    /// <summary>Removes the step cache records of every step after the base stage's, so that they plan again.</summary>
    private static void ForgetAfterBase(string state)
    {
        foreach (string record in Directory.GetFiles(Path.Combine(state, "cache", "steps")))
        {
            string text = File.ReadAllText(record);
            if (!text.Contains("\"created_by\":\"RUN ", StringComparison.Ordinal) && !text.Contains("COPY busybox", StringComparison.Ordinal))
                File.Delete(record);
        }
    }

    private static string[] Snapshots(string state) => Directory.GetFiles(Path.Combine(state, "cache", "trees"), "*.tree");

    [Fact]
    public async Task Plans_over_the_snapshot_of_cached_layers_write_the_layers_the_loaded_tree_gives()
    {
        string state = _temp["state"];
        var cold = await BuildAsync(state, "cold");
        Assert.Equal(0, cold.Plans("snapshot of"));
        Assert.Equal(17, cold.Written.Count);
        // The cold build recorded the base stage's merged tree for the next one (and the trees its RUNs planned over).
        Assert.NotEmpty(Snapshots(state));

        // The snapshots set aside, and folders in their place so that none is written during the build: every plan
        // loads the tree (stages plan in parallel; one could otherwise find the snapshot another just wrote).
        var recorded = Snapshots(state);
        foreach (string snapshot in recorded)
        {
            File.Move(snapshot, snapshot + ".aside");
            Directory.CreateDirectory(snapshot);
        }
        ForgetAfterBase(state);
        var loaded = await BuildAsync(state, "loaded");
        Assert.Equal(0, loaded.Plans("snapshot of"));
        Assert.True(loaded.Plans("loaded") >= PlansOverBase, string.Join('\n', loaded.Details));
        Assert.Equal(cold.Written, loaded.Written);
        Assert.Equal(cold.Image.Digest, loaded.Image.Digest);

        foreach (string snapshot in recorded)
        {
            Directory.Delete(snapshot);
            File.Move(snapshot + ".aside", snapshot);
        }
        ForgetAfterBase(state);
        var fromSnapshot = await BuildAsync(state, "snapshot");
        Assert.Equal(PlansOverBase, fromSnapshot.Plans("snapshot of"));
        Assert.Equal(cold.Written, fromSnapshot.Written);
        Assert.Equal(cold.Image.Digest, fromSnapshot.Image.Digest);
    }
}
