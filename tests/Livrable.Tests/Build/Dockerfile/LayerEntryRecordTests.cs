using Livrable.Build;
using Livrable.Diagnostics;
using Livrable.Filesystem;
using Livrable.Images;
using Livrable.Sources;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Build.Dockerfile;

/// <summary>
/// A layer a step writes has its entries recorded at once (<c>cache/trees/</c>, <c>Filesystem/LayerEntryIndex</c>),
/// so the first edit after a cold build plans its COPY without decompressing the cached layers below it; the record is
/// exactly the one a read of the layer's blob makes (paths, types, modes, owners, sizes, links, times, positions in the
/// tar, the bytes kept for passwd and group), the blob being read from the tarball skopeo and umoci accept.
/// </summary>
public sealed class LayerEntryRecordTests(RunFixture fixture) : IClassFixture<RunFixture>
{
    [Fact]
    public async Task The_entries_recorded_when_a_step_writes_its_layer_are_those_a_read_of_its_blob_gives()
    {
        string work = fixture.NewFolder("records");
        string context = Path.Combine(work, "context");
        Directory.CreateDirectory(Path.Combine(context, "app"));
        File.Copy(Tools.Require("busybox"), Path.Combine(context, "busybox"));
        File.WriteAllText(Path.Combine(context, "app", "main.txt"), "main\n");
        string longName = new('n', 120);
        File.WriteAllText(Path.Combine(context, "Dockerfile"), $"""
            FROM scratch
            COPY busybox /bin/busybox
            RUN ["/bin/busybox", "--install", "-s", "/bin"]
            RUN mkdir -p /etc /data/sub && echo 'root:x:0:0:root:/root:/bin/sh' > /etc/passwd && echo 'root:x:0:' > /etc/group \
             && echo one > /data/one && ln /data/one /data/two && ln -s ../one /data/sub/link && echo long > /data/{longName} \
             && chmod 4755 /data/one && chown 1234:5678 /data/sub && mknod /data/fifo p
            WORKDIR /app
            COPY app/ .

            """);
        var request = TestRequests.Dockerfile(context, "livrable-test/records", Path.Combine(work, "out", "image.tar"), fixture.StateDirectory);
        await ImageBuilder.BuildAsync(request, NullLogger.Instance, CancellationToken.None);
        var image = await new ArchiveImage(request.ArchivePath!, "v1", new BlobStore(Path.Combine(work, "reader"))).ResolveAsync(request.Platform, CancellationToken.None);
        await ImageValidator.ValidateArchiveAsync(request.ArchivePath!, image, "v1", Path.Combine(work, "check"));

        var recorded = new LayerEntryIndex(StateLayout.Records(new BlobStore(fixture.StateDirectory).Root, CacheRecordKind.Trees));
        var read = new LayerEntryIndex(Path.Combine(work, "read"));
        Assert.Equal(5, image.Layers.Count);
        foreach (var layer in image.Layers)
        {
            var atWrite = recorded.TryRead(layer);
            Assert.NotNull(atWrite);
            // A read of the blob from the tarball, recorded in a folder of its own.
            await FileTree.LoadAsync([layer], Decompression.DefaultMaxBytes, read, CancellationToken.None);
            var fromBlob = read.TryRead(layer);
            Assert.NotNull(fromBlob);
            Assert.Equal(fromBlob!.Select(Shown), atWrite!.Select(Shown));
        }
        var run = recorded.TryRead(image.Layers[2])!;
        Assert.Contains(run, e => e.Path == "/etc/passwd" && e.Location?.Inline is { Length: > 0 });
        Assert.Contains(run, e => e.Path == "/data/" + longName);
    }

    /// <summary>Everything an entry of the record holds, as text.</summary>
    private static string Shown(Livrable.Layers.FileEntry e)
        => $"{e.Path} {e.Type} {e.Mode} {e.Uid}:{e.Gid} {e.Size} {e.LinkTarget} {e.DeviceMajor},{e.DeviceMinor} {e.ModificationTime?.ToUnixTimeSeconds()} "
           + $"{e.Location?.Ordinal} {e.Location?.Name} {(e.Location?.Inline is { } b ? Convert.ToHexString(b) : "-")}";
}
