using System.Diagnostics;
using Livrable.Build;
using Livrable.Build.Cache;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Layers;
using Livrable.Sources;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Hostile;

/// <summary>
/// Build contexts holding what a folder can hold but a file copy does not expect: a FIFO (which blocks whoever opens it
/// until a writer comes), a socket, a device node, a name that is not valid UTF-8, a large sparse file. Each build ends
/// (bounded by a timeout) with an image read back by the validator, skopeo and umoci, or with its LIV code.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class HostileContextTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData("COPY . /app/")]
    [InlineData("COPY pipe /app/pipe")]
    [InlineData("COPY p* /app/")]
    [InlineData("ADD pipe /app/pipe")]
    public async Task A_FIFO_in_the_context_is_copied_as_a_FIFO_never_opened(string copy)
    {
        string context = Context();
        File.WriteAllText(Path.Combine(context, "file.txt"), "ok\n");
        Run("mkfifo", "-m", "0640", Path.Combine(context, "pipe"));

        var (error, rootfs) = await BuildAsync(context, $"FROM scratch\n{copy}\n");

        Assert.Null(error);
        var status = UnixFileStatus.TryRead(Path.Combine(rootfs!, "app", "pipe"));
        Assert.Equal(UnixFileKind.Fifo, status!.Value.Kind);
        Assert.Equal(0x1A0, status.Value.Mode & 0xFFF);
    }

    [Fact]
    public async Task A_device_node_in_the_context_is_copied_as_one()
    {
        if (!Interop.Native.IsRoot) return; // mknod needs root; RunTests cover the non-root build
        string context = Context();
        Run("mknod", Path.Combine(context, "null"), "c", "1", "3");
        var (error, _) = await BuildAsync(context, "FROM scratch\nCOPY . /app/\n");
        Assert.Null(error);
        // umoci skips device nodes when it does not run as root in the test; the layer says what was written.
        var image = await new ArchiveImage(_temp["out", Path.GetFileName(context) + ".tar"], "v1", new BlobStore(_temp["reader2"]))
            .ResolveAsync(Platform.FromRuntimeIdentifier("linux-x64"), CancellationToken.None);
        await using var layer = await image.Layers[0].OpenAsync(CancellationToken.None);
        await using var tar = new System.Formats.Tar.TarReader(new System.IO.Compression.GZipStream(layer, System.IO.Compression.CompressionMode.Decompress));
        System.Formats.Tar.TarEntry? entry;
        while ((entry = await tar.GetNextEntryAsync()) is not null && entry.Name != "app/null") { }
        var device = Assert.IsAssignableFrom<System.Formats.Tar.PosixTarEntry>(entry);
        Assert.Equal(System.Formats.Tar.TarEntryType.CharacterDevice, device.EntryType);
        Assert.Equal((1, 3), (device.DeviceMajor, device.DeviceMinor));
    }

    [Fact]
    public async Task A_socket_in_the_context_is_refused_when_copied_and_ignored_otherwise()
    {
        string context = Context();
        File.WriteAllText(Path.Combine(context, "file.txt"), "ok\n");
        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        socket.Bind(new System.Net.Sockets.UnixDomainSocketEndPoint(Path.Combine(context, "app.sock")));

        var (error, _) = await BuildAsync(context, "FROM scratch\nCOPY . /app/\n");
        Assert.Equal(DiagnosticCodes.ContextSocket, error?.Code);
        Assert.Equal(2, error!.Span?.Line);
        Assert.Contains("app.sock", error.Message);

        var (ignored, _) = await BuildAsync(context, "FROM scratch\nCOPY . /app/\n", dockerignore: "*.sock\n");
        Assert.Null(ignored);
    }

    [Fact]
    public async Task A_name_that_is_not_UTF8_is_refused_with_its_bytes()
    {
        string context = Context();
        File.WriteAllText(Path.Combine(context, "ok.txt"), "ok\n");
        // "caf\xe9.txt": Latin-1, as an old archive or a Windows share leaves it.
        Run("sh", "-c", $"printf 'x' > \"$(printf '{context}/caf\\351.txt')\"");

        var (error, _) = await BuildAsync(context, "FROM scratch\nCOPY . /app/\n");

        Assert.Equal(DiagnosticCodes.ContextNameNotUtf8, error?.Code);
        Assert.Contains("\"caf\\xe9.txt\"", error!.Message);
    }

    [Fact]
    public void Hashing_a_large_file_reports_its_progress()
    {
        string folder = _temp["big"];
        Directory.CreateDirectory(folder);
        string file = Path.Combine(folder, "sparse.img");
        using (var stream = File.Create(file)) stream.SetLength(64L << 20); // sparse: no blocks written
        var logger = new RecordingLogger();
        long bytes = FileDigests.ProgressBytes;
        var interval = FileDigests.ProgressInterval;
        try
        {
            FileDigests.ProgressBytes = 1 << 20;
            FileDigests.ProgressInterval = TimeSpan.Zero;
            var digest = FileDigests.Open(_temp["state"], folder, logger).DigestOf(file);
            using var check = File.OpenRead(file);
            Assert.Equal(Digest.FromSha256Hash(System.Security.Cryptography.SHA256.HashData(check)), digest);
        }
        finally
        {
            FileDigests.ProgressBytes = bytes;
            FileDigests.ProgressInterval = interval;
        }
        Assert.Contains(logger.Lines, l => l.StartsWith("info:   hashing " + file + " (67.1 MB)", StringComparison.Ordinal));
        Assert.Contains(logger.Lines, l => l.Contains("67.1 MB of 67.1 MB", StringComparison.Ordinal) && l.Contains("(100%)", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_FIFO_is_given_a_digest_without_being_opened()
    {
        string folder = _temp["fifo"];
        Directory.CreateDirectory(folder);
        Run("mkfifo", Path.Combine(folder, "pipe"));
        var task = Task.Run(() => FileDigests.Open(_temp["state"], folder).DigestOf(Path.Combine(folder, "pipe")));
        Assert.True(await Task.WhenAny(task, Task.Delay(Limit)) == task, "hashing a FIFO blocked");
    }

    private string Context()
    {
        string context = _temp["context-" + Guid.NewGuid().ToString("N")[..8]];
        Directory.CreateDirectory(context);
        return context;
    }

    private static void Run(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardError = true };
        foreach (string a in arguments) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{program}: {process.StandardError.ReadToEnd()}");
    }

    /// <summary>Builds into a tarball within <see cref="Limit"/>; on success the image is validated and unpacked by umoci.</summary>
    private async Task<(LivrableException? Error, string? Rootfs)> BuildAsync(string context, string dockerfile, string? dockerignore = null)
    {
        File.WriteAllText(Path.Combine(context, "Dockerfile"), dockerfile);
        if (dockerignore is not null) File.WriteAllText(Path.Combine(context, ".dockerignore"), dockerignore);
        string id = Path.GetFileName(context);
        var request = new ImageBuildRequest
        {
            Platform = Platform.FromRuntimeIdentifier("linux-x64"),
            Repository = "livrable-test/context",
            Tags = ["v1"],
            ArchivePath = _temp["out", id + ".tar"],
            StateDirectory = _temp["state"],
            Dockerfile = new DockerfileBuild { DockerfilePath = Path.Combine(context, "Dockerfile"), ContextDirectory = context },
        };
        using var timeout = new CancellationTokenSource(Limit);
        var build = Task.Run(() => ImageBuilder.BuildAsync(request, NullLogger.Instance, timeout.Token));
        Assert.True(await Task.WhenAny(build, Task.Delay(Limit)) == build, "the build hung");
        try
        {
            await build;
        }
        catch (LivrableException e)
        {
            return (e, null);
        }
        var image = await new ArchiveImage(request.ArchivePath!, "v1", new BlobStore(_temp["reader"])).ResolveAsync(request.Platform, CancellationToken.None);
        await ImageValidator.ValidateAsync(image);
        string rootfs = await ImageValidator.ValidateArchiveAsync(request.ArchivePath!, image, "v1", _temp["check-" + id]);
        return (null, rootfs);
    }
}
