using System.Security.Cryptography;
using Livrable.Build;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Interop;
using Livrable.Layers;
using Livrable.Runtime;
using Livrable.Sources;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Build.Dockerfile;

/// <summary>
/// The layer a COPY or a RUN writes becomes the next RUN's lower folder as it is written (issue 14: the edit loop's RUN
/// read the new COPY layer back from its blob and extracted it again). What the next RUN sees must be what extracting
/// the blob gives: the folders are compared entry by entry with an extraction of the blob, and the image with builds
/// whose RUNs took their lower folders from the blobs (the same state folder, its extracted layers and the later
/// steps' cache records removed). Real runc and overlay; every image read by skopeo and umoci.
/// </summary>
public sealed class LowerFolderReuseTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    /// <summary>
    /// COPY, then a RUN that reads what it copied and changes it every way a layer can say (a deleted file, a folder
    /// replaced, a link, a hard link, set-user-ID, another owner, an old time), then a RUN that reads that.
    /// </summary>
    private const string Dockerfile = """
        FROM scratch
        COPY busybox /bin/busybox
        RUN ["/bin/busybox", "--install", "-s", "/bin"]
        COPY data/ /data/
        RUN (cat /data/a.txt /data/sub/b.txt; stat -c '%n %a %u:%g %Y %s %h' $(find /data -type f | sort); stat -c '%n %a %u:%g %F' $(find /data -type d | sort)) > /copied.txt \
            && rm /data/gone.txt && rm -r /data/sub && mkdir /data/sub && echo new > /data/sub/new.txt \
            && ln -s a.txt /data/link && ln /data/a.txt /data/hard && chmod 4755 /data/exe && chown 1000:1000 /data/owned \
            && touch -d '1975-01-01 00:00:00' /data/old.txt
        RUN (cat /copied.txt /data/sub/new.txt; ls -a /data /data/sub; stat -c '%n %a %u:%g %Y %s %h' $(find /data /copied.txt -type f | sort); \
            stat -c '%n %a %u:%g %F' $(find /data -type d -o -type l | sort); readlink /data/link) > /listing.txt

        """;

    private sealed record Built(IImage Image, RecordingLogger Logger);

    private Task<Built> BuildAsync(string state, string name) => BuildAsync(state, name, Dockerfile, CheckListing);

    private static void CheckListing(string listing)
    {
        Assert.StartsWith("a.txt\nsub/b.txt\n", listing);
        Assert.Contains("/data/exe 4755 0:0", listing);
        Assert.Contains("/data/owned 644 1000:1000", listing);
        Assert.DoesNotContain("\ngone.txt\n", listing); // ls -a of /data: the whiteout hides it
    }

    private async Task<Built> BuildAsync(string state, string name, string dockerfile, Action<string> checkListing)
    {
        string work = _temp[name];
        string context = Path.Combine(work, "context");
        Directory.CreateDirectory(Path.Combine(context, "data", "sub"));
        File.Copy(Tools.Require("busybox"), Path.Combine(context, "busybox"));
        File.WriteAllText(Path.Combine(context, "Dockerfile"), dockerfile);
        foreach (string file in new[] { "a.txt", "gone.txt", "sub/b.txt", "exe", "owned", "old.txt" })
            File.WriteAllText(Path.Combine(context, "data", file), file + "\n");
        File.WriteAllText(Path.Combine(context, "m.py"), "x=1\n");
        File.WriteAllBytes(Path.Combine(context, "m.pyc"), PycFor(sourceTime: 1_000_000_000, sourceSize: 4));
        File.WriteAllBytes(Path.Combine(context, "big.pyc"), PycFor(sourceTime: 1_000_000_000, sourceSize: 4, length: (int)UpperFolderAdoption.RewrittenLimit + 1));
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(Path.Combine(context, "data", "exe"), (UnixFileMode)0b111_101_101);
        var request = TestRequests.Dockerfile(context, "livrable-test/lower", Path.Combine(work, "out", "image.tar"), state);
        var logger = new RecordingLogger();
        await ImageBuilder.BuildAsync(request, logger, CancellationToken.None);
        var image = await new ArchiveImage(request.ArchivePath!, "v1", new BlobStore(Path.Combine(work, "reader"))).ResolveAsync(request.Platform, CancellationToken.None);
        await ImageValidator.ValidateAsync(image);
        string rootfs = await ImageValidator.ValidateArchiveAsync(request.ArchivePath!, image, "v1", Path.Combine(work, "check"));
        checkListing(File.ReadAllText(Path.Combine(rootfs, "listing.txt")));
        return new Built(image, logger);
    }

    private static bool Extracted(Built built, ILayer layer)
        => built.Logger.Lines.Any(l => l.StartsWith("detail: ", StringComparison.Ordinal) && l.Contains($"extracting layer {layer.DiffId} for RUN"));

    private static bool MadeFromWrittenTar(Built built, ILayer layer)
        => built.Logger.Lines.Any(l => l.StartsWith("detail: ", StringComparison.Ordinal) && l.Contains($"lower folder: {layer.DiffId.Hex[..12]} extracted from the written tar "));

    private static bool AdoptedFromUpper(Built built, ILayer layer, int writtenBack = 0)
        => built.Logger.Lines.Any(l => l.StartsWith("detail: ", StringComparison.Ordinal)
            && l.Contains($"lower folder: {layer.DiffId.Hex[..12]} adopted from the RUN's upper folder (") && l.Contains($" entries, {writtenBack} written back) "));

    /// <summary>Removes the extracted layers and the step cache records of the steps that made <paramref name="layers"/>.</summary>
    private static void Forget(string state, params ILayer[] layers)
    {
        Directory.Delete(Path.Combine(state, "rootfs"), recursive: true);
        foreach (string record in Directory.GetFiles(Path.Combine(state, "cache", "steps")))
            if (layers.Any(l => File.ReadAllText(record).Contains(l.DiffId.ToString(), StringComparison.Ordinal)))
                File.Delete(record);
    }

    /// <summary>Every entry of an extracted folder, as a RUN (and overlay) sees it: kind, mode, owner, times of files, bytes, link, device, xattrs.</summary>
    internal static SortedDictionary<string, string> Snapshot(string root)
    {
        var entries = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var info in new DirectoryInfo(root).EnumerateFileSystemInfos("*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 }))
        {
            var status = UnixFileStatus.TryRead(info.FullName)!.Value;
            string xattrs = string.Join(",", Native.ListXattrs(info.FullName).Order(StringComparer.Ordinal)
                .Select(n => n + "=" + Convert.ToHexString(Native.ReadXattr(info.FullName, n) ?? [])));
            // Extraction sets the times of regular files only (folders and links get the extraction's): the same in both paths.
            string content = status.Kind switch
            {
                UnixFileKind.RegularFile => $"{status.ModificationTime} {status.LinkCount} {Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(info.FullName)))}",
                UnixFileKind.SymbolicLink => info.LinkTarget!,
                UnixFileKind.CharacterDevice or UnixFileKind.BlockDevice => $"{status.DeviceMajor}:{status.DeviceMinor}",
                _ => "",
            };
            entries[Path.GetRelativePath(root, info.FullName)] = $"{status.Kind} {Convert.ToString(status.Mode, 8)} {status.Uid}:{status.Gid} {content} [{xattrs}]";
        }
        return entries;
    }

    [Fact]
    public async Task The_RUN_after_a_COPY_and_after_a_RUN_finds_their_layers_extracted_as_their_blobs_would_be_and_the_image_is_the_same()
    {
        string state = _temp["state"];
        var first = await BuildAsync(state, "first");
        var copy = first.Image.Layers[2];
        var run = first.Image.Layers[3];

        // The second extraction did not happen: the COPY's layer became a lower folder as it was written, the RUN's
        // upper folder became its layer's.
        Assert.True(MadeFromWrittenTar(first, copy), string.Join('\n', first.Logger.Lines));
        Assert.True(AdoptedFromUpper(first, run), string.Join('\n', first.Logger.Lines));
        foreach (var layer in new[] { copy, run })
            Assert.False(Extracted(first, layer), string.Join('\n', first.Logger.Lines));
        // The last RUN's layer has no RUN after it: not extracted at all.
        Assert.False(Directory.Exists(Path.Combine(state, "rootfs", first.Image.Layers[4].DiffId.Hex)));
        Assert.Empty(Directory.GetDirectories(Path.Combine(state, "rootfs"), "tmp-*"));

        // Each folder is, entry by entry, what extracting the blob gives (whiteouts, the opaque folder, owners, modes, times).
        foreach (var layer in new[] { copy, run })
        {
            string fromBlob = Directory.CreateDirectory(_temp["blob-" + layer.DiffId.Hex[..12]]).FullName;
            await new LayerRootfs(_temp["extract-state"], NullLogger.Instance).ExtractAsync(layer, fromBlob, CancellationToken.None);
            string made = Path.Combine(state, "rootfs", layer.DiffId.Hex);
            Assert.True(File.Exists(made + ".done"));
            Assert.Equal(Snapshot(fromBlob), Snapshot(made));
        }
        var runFolder = Snapshot(Path.Combine(state, "rootfs", run.DiffId.Hex));
        Assert.StartsWith("CharacterDevice", runFolder["data/gone.txt"]);
        Assert.Contains("trusted.overlay.opaque=79", runFolder["data/sub"]);

        // The first RUN with the COPY's folder from the blob (the RUN after it reruns, on a folder made from the written tar).
        Forget(state, run, first.Image.Layers[4]);
        var copyFromBlob = await BuildAsync(state, "copy-from-blob");
        Assert.True(Extracted(copyFromBlob, copy));
        Assert.Equal(first.Image.Digest, copyFromBlob.Image.Digest);

        // The last RUN with the first RUN's folder from the blob.
        Forget(state, first.Image.Layers[4]);
        var runFromBlob = await BuildAsync(state, "run-from-blob");
        Assert.True(Extracted(runFromBlob, run));
        Assert.Equal(first.Image.Digest, runFromBlob.Image.Digest);

        // A fresh state folder gives the same image too.
        var fresh = await BuildAsync(_temp["fresh-state"], "fresh");
        Assert.Equal(first.Image.Digest, fresh.Image.Digest);
    }

    /// <summary>A timestamp-based bytecode file (PEP 552, Python 3.8's magic) current for a source of that time and size.</summary>
    internal static byte[] PycFor(uint sourceTime, uint sourceSize, int length = 24)
    {
        byte[] bytes = new byte[length];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(bytes, 3413);
        bytes[2] = (byte)'\r';
        bytes[3] = (byte)'\n';
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), sourceTime);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(12), sourceSize);
        "body0123"u8.CopyTo(bytes.AsSpan(16));
        return bytes;
    }

    /// <summary>
    /// A RUN layer over the 8 MiB a written tar is kept for (the apt-get RUN of samples/pyapp is 580 MB), with a
    /// <c>.pyc</c> whose header the layer rewrites (<c>Layers/BytecodeTimes</c>), whiteouts, an opaque folder, links,
    /// a fifo, owners and set-id modes, then a RUN that reads it.
    /// </summary>
    private const string BigRunDockerfile = """
        FROM scratch
        COPY busybox /bin/busybox
        RUN ["/bin/busybox", "--install", "-s", "/bin"]
        COPY data/ /data/
        COPY m.py m.pyc /ctx/
        RUN mkdir -p /app/__pycache__ && yes 0123456789abcdef | head -c 9437184 > /app/big.bin \
            && cp /ctx/m.py /app/m.py && touch -d '2001-09-09 01:46:40' /app/m.py && cp /ctx/m.pyc /app/__pycache__/m.cpython-38.pyc \
            && rm /data/gone.txt && rm -r /data/sub && mkdir /data/sub && echo new > /data/sub/new.txt && mkfifo -m 600 /data/fifo \
            && ln -s a.txt /data/link && ln /data/a.txt /data/hard && chmod 4755 /data/exe && chown 1000:1000 /data/owned \
            && touch -d '1975-01-01 00:00:00' /data/old.txt
        RUN (ls -a /data /data/sub; stat -c '%n %a %u:%g %Y %s %h' /app/big.bin /app/m.py /data/exe /data/owned /data/a.txt; \
            od -A n -t u1 -N 16 /app/__pycache__/m.cpython-38.pyc; md5sum /app/big.bin) > /listing.txt

        """;

    [Fact]
    public async Task A_RUN_layer_over_8_MiB_becomes_the_next_RUNs_lower_folder_from_its_upper_folder_equal_to_its_blobs_extraction()
    {
        static void Check(string listing)
        {
            Assert.Contains("/app/big.bin 644 0:0 ", listing);
            Assert.Contains(" 9437184 1\n", listing);
            Assert.Contains("/data/exe 4755 0:0", listing);
            Assert.Contains("/data/owned 644 1000:1000", listing);
            Assert.DoesNotContain("\ngone.txt\n", listing);
        }
        string state = _temp["state"];
        var first = await BuildAsync(state, "first", BigRunDockerfile, Check);
        var run = first.Image.Layers[4];
        Assert.True(run.Descriptor.Size > 0);

        // The layer was not extracted from its blob: the RUN's upper folder became its folder, the .pyc the layer
        // rewrote written back with the layer's bytes.
        Assert.True(AdoptedFromUpper(first, run, writtenBack: 1), string.Join('\n', first.Logger.Lines));
        Assert.False(Extracted(first, run), string.Join('\n', first.Logger.Lines));
        Assert.Empty(Directory.GetDirectories(Path.Combine(state, "rootfs"), "tmp-*"));

        // Entry by entry what extracting the blob gives.
        string fromBlob = Directory.CreateDirectory(_temp["blob"]).FullName;
        await new LayerRootfs(_temp["extract-state"], NullLogger.Instance).ExtractAsync(run, fromBlob, CancellationToken.None);
        string made = Path.Combine(state, "rootfs", run.DiffId.Hex);
        Assert.True(File.Exists(made + ".done"));
        var adopted = Snapshot(made);
        Assert.Equal(Snapshot(fromBlob), adopted);
        Assert.True(new FileInfo(Path.Combine(made, "app", "big.bin")).Length > LowerFolderPreparation.InMemoryLimit);
        Assert.StartsWith("CharacterDevice 0 0:0", adopted["data/gone.txt"]);
        Assert.Contains("trusted.overlay.opaque=79", adopted["data/sub"]);
        Assert.StartsWith("Fifo 600", adopted["data/fifo"]);
        Assert.False(adopted.ContainsKey("etc"), "the runtime's /etc/hosts and /etc/resolv.conf are not in the layer");
        Assert.False(adopted.ContainsKey("proc"), "the runtime's mount points are not in the layer");

        // The last RUN on the folder extracted from the blob gives the same image.
        Forget(state, first.Image.Layers[5]);
        var fromBlobBuild = await BuildAsync(state, "run-from-blob", BigRunDockerfile, Check);
        Assert.True(Extracted(fromBlobBuild, run));
        Assert.Equal(first.Image.Digest, fromBlobBuild.Image.Digest);
    }

    /// <summary>A stage whose first RUN's upper folder becomes the second's lower folder, copied from by the next stage.</summary>
    private const string CopyFromDockerfile = """
        FROM scratch AS build
        COPY busybox /bin/busybox
        RUN ["/bin/busybox", "--install", "-s", "/bin"]
        COPY m.py m.pyc /ctx/
        RUN mkdir -p /app/__pycache__ && echo made > /app/made.txt && cp /ctx/m.py /app/m.py && touch -d '2001-09-09 01:46:40' /app/m.py \
            && cp /ctx/m.pyc /app/__pycache__/m.cpython-38.pyc
        RUN cat /app/made.txt > /app/seen.txt

        FROM scratch
        COPY --from=build /bin/busybox /bin/busybox
        COPY --from=build /app/ /app/
        RUN ["/bin/busybox", "sh", "-c", "cat /app/made.txt /app/seen.txt > /listing.txt && /bin/busybox od -A n -t u1 -N 16 /app/__pycache__/m.cpython-38.pyc >> /listing.txt"]

        """;

    [Fact]
    public async Task A_later_stage_copies_the_files_of_a_RUN_whose_upper_folder_became_a_lower_folder()
    {
        static void Check(string listing) => Assert.StartsWith("made\nmade\n", listing);
        string state = _temp["state"];
        var first = await BuildAsync(state, "first", CopyFromDockerfile, Check);
        Assert.Contains(first.Logger.Lines, l => l.StartsWith("detail: ", StringComparison.Ordinal) && l.Contains("adopted from the RUN's upper folder (") && l.Contains(" entries, 1 written back) "));

        // The same image when nothing was adopted: a fresh state folder whose build reads every file from the blobs of a cached build.
        Forget(state, first.Image.Layers.ToArray());
        var again = await BuildAsync(state, "again", CopyFromDockerfile, Check);
        Assert.Equal(first.Image.Digest, again.Image.Digest);
    }

    /// <summary>
    /// A RUN whose upper folder cannot be made its layer with certainty (a <c>.pyc</c> over
    /// <see cref="UpperFolderAdoption.RewrittenLimit"/> whose header the layer rewrote): the next RUN's lower folder
    /// comes from the tar kept in memory instead, equal to the blob's extraction, and the image is the same.
    /// </summary>
    [Fact]
    public async Task A_RUN_upper_folder_that_cannot_be_made_its_layer_is_not_adopted_and_the_tar_is_extracted_instead()
    {
        const string dockerfile = """
            FROM scratch
            COPY busybox /bin/busybox
            RUN ["/bin/busybox", "--install", "-s", "/bin"]
            COPY m.py big.pyc /ctx/
            RUN mkdir -p /app/__pycache__ && cp /ctx/m.py /app/m.py && touch -d '2001-09-09 01:46:40' /app/m.py \
                && cp /ctx/big.pyc /app/__pycache__/m.cpython-38.pyc && echo made > /app/made.txt
            RUN (cat /app/made.txt; od -A n -t u1 -N 16 /app/__pycache__/m.cpython-38.pyc) > /listing.txt

            """;
        static void Check(string listing) => Assert.StartsWith("made\n", listing);
        string state = _temp["state"];
        var first = await BuildAsync(state, "first", dockerfile, Check);
        var run = first.Image.Layers[3];
        Assert.Contains(first.Logger.Lines, l => l.StartsWith("detail: ", StringComparison.Ordinal)
            && l.Contains("lower folder: the RUN's upper folder not adopted (the layer's bytes of 'app/__pycache__/m.cpython-38.pyc' are not the upper folder's)"));
        Assert.True(MadeFromWrittenTar(first, run), string.Join('\n', first.Logger.Lines));
        Assert.Empty(Directory.GetDirectories(Path.Combine(state, "rootfs"), "tmp-*"));

        string fromBlob = Directory.CreateDirectory(_temp["blob"]).FullName;
        await new LayerRootfs(_temp["extract-state"], NullLogger.Instance).ExtractAsync(run, fromBlob, CancellationToken.None);
        Assert.Equal(Snapshot(fromBlob), Snapshot(Path.Combine(state, "rootfs", run.DiffId.Hex)));

        Forget(state, first.Image.Layers[4]);
        var fromBlobBuild = await BuildAsync(state, "run-from-blob", dockerfile, Check);
        Assert.True(Extracted(fromBlobBuild, run));
        Assert.Equal(first.Image.Digest, fromBlobBuild.Image.Digest);
    }
}
