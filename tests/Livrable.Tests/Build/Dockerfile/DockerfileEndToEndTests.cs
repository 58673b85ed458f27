using Livrable.Build;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Sources;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;
using Livrable.Layers;

namespace Livrable.Tests.Build.Dockerfile;

/// <summary>
/// A multi-stage Dockerfile through <see cref="ImageBuilder"/> into an image tarball: read by skopeo and umoci
/// (the shared validator) and run with runc. The first stage is a static busybox from the build context; the next
/// use it by name, by index and through a named context that stands for an image tarball.
/// </summary>
public sealed class DockerfileEndToEndTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private const string Dockerfile = """
        # syntax=docker/dockerfile:1
        ARG GREETING=hello
        ARG BASE=scratch

        FROM ${BASE} AS tools
        COPY busybox /bin/busybox

        FROM scratch AS data
        ARG GREETING
        COPY <<EOF /data/greeting.txt
        ${GREETING} from a heredoc
        EOF
        COPY files/ /data/files/
        ADD payload.tar.gz /data/unpacked/

        FROM tools
        COPY --from=data /data /app
        COPY --from=0 --chown=1000:1000 /bin/busybox /usr/bin/
        COPY --from=extra /hello.txt /app/extra.txt
        WORKDIR /app
        ENV GREETING_SUFFIX="from livrable"
        LABEL org.opencontainers.image.title=e2e
        EXPOSE 8080
        ENTRYPOINT ["/bin/busybox", "sh", "-c"]
        CMD ["cat /app/greeting.txt /app/extra.txt; ls /app/files /app/unpacked/inner; echo $GREETING_SUFFIX"]
        """;

    private async Task<(ImageBuildRequest Request, string Context)> PrepareAsync()
    {
        string context = _temp["context"];
        Directory.CreateDirectory(Path.Combine(context, "files"));
        File.Copy(Tools.Require("busybox"), Path.Combine(context, "busybox"));
        File.WriteAllText(Path.Combine(context, "files", "kept.txt"), "kept\n");
        File.WriteAllText(Path.Combine(context, "files", "ignored.log"), "no\n");
        File.WriteAllText(Path.Combine(context, ".dockerignore"), "files/*.log\n");
        File.WriteAllText(Path.Combine(context, "Dockerfile"), Dockerfile);
        Directory.CreateDirectory(_temp["payload", "inner"]);
        File.WriteAllText(_temp["payload", "inner", "x.txt"], "x\n");
        await Tools.RunCheckedAsync("tar", "-C", _temp["payload"], "-czf", Path.Combine(context, "payload.tar.gz"), "inner");

        // A named context: an image tarball written by Livrable itself from properties.
        var extraStore = new BlobStore(_temp["extra-state"]);
        var extra = await TestImages.SimpleAsync(extraStore);
        await new Livrable.Outputs.ArchiveOutput(_temp["extra.tar"], Reproducibility.DefaultEpoch).WriteAsync(extra, "extra", ["1"], CancellationToken.None);

        var request = new ImageBuildRequest
        {
            Platform = Platform.FromRuntimeIdentifier("linux-x64"),
            Repository = "livrable-test/dockerfile",
            Tags = ["v1"],
            ArchivePath = _temp["out", "image.tar"],
            StateDirectory = _temp["state"],
            Dockerfile = new DockerfileBuild
            {
                DockerfilePath = Path.Combine(context, "Dockerfile"),
                ContextDirectory = context,
                BuildArgs = new Dictionary<string, string> { ["GREETING"] = "bonjour", ["UNUSED"] = "1" },
                NamedContexts = new Dictionary<string, string> { ["extra"] = "archive:" + _temp["extra.tar"] },
            },
        };
        return (request, context);
    }

    [Fact]
    public async Task A_multi_stage_Dockerfile_gives_a_valid_image_that_runs()
    {
        var (request, _) = await PrepareAsync();
        var logger = new RecordingLogger();

        var result = await ImageBuilder.BuildAsync(request, logger, CancellationToken.None);

        var image = await new ArchiveImage(request.ArchivePath!, "v1", new BlobStore(_temp["reader"])).ResolveAsync(request.Platform, CancellationToken.None);
        Assert.Equal(result.Digest, image.Digest);
        await ImageValidator.ValidateAsync(image);
        Assert.Equal(["/bin/busybox", "sh", "-c"], image.Config.Entrypoint);
        Assert.Equal("/app", image.Config.WorkingDir);
        Assert.Contains("8080/tcp", image.Config.ExposedPorts);
        Assert.Equal("e2e", image.Config.Labels["org.opencontainers.image.title"]);
        Assert.Equal(Reproducibility.DefaultEpoch, image.Config.Created);
        Assert.Contains(logger.Lines, l => l.StartsWith("warning LIV1120: The build argument UNUSED", StringComparison.Ordinal));
        Assert.Contains(logger.Lines, l => l.Contains("] data: COPY files/ /data/files/", StringComparison.Ordinal));
        Assert.Contains(logger.Lines, l => l.StartsWith("info: Built livrable-test/dockerfile:v1 ", StringComparison.Ordinal));

        string rootfs = await ImageValidator.ValidateArchiveAsync(request.ArchivePath!, image, "v1", _temp["check"]);
        Assert.False(File.Exists(Path.Combine(rootfs, "app", "files", "ignored.log")));
        string output = await Runc.RunAsync(Path.GetDirectoryName(rootfs)!);
        Assert.Equal("bonjour from a heredoc\nhello\n/app/files:\nkept.txt\n\n/app/unpacked/inner:\nx.txt\nfrom livrable\n", output);
    }

    [Fact]
    public async Task The_same_Dockerfile_in_another_folder_gives_the_same_digest()
    {
        var (request, context) = await PrepareAsync();
        var first = await ImageBuilder.BuildAsync(request, NullLogger.Instance, CancellationToken.None);
        string moved = _temp["moved"];
        await Tools.RunCheckedAsync("cp", "-a", context, moved);
        File.SetLastWriteTimeUtc(Path.Combine(moved, "files", "kept.txt"), new DateTime(2001, 1, 1));
        var second = await ImageBuilder.BuildAsync(request with
        {
            ArchivePath = _temp["out", "again.tar"],
            StateDirectory = _temp["state2"],
            Dockerfile = request.Dockerfile! with { DockerfilePath = Path.Combine(moved, "Dockerfile"), ContextDirectory = moved },
        }, NullLogger.Instance, CancellationToken.None);
        Assert.Equal(first.Digest, second.Digest);
    }

    [Fact]
    public async Task An_error_in_the_Dockerfile_points_at_its_full_path_line_and_column()
    {
        var (request, context) = await PrepareAsync();
        File.WriteAllText(Path.Combine(context, "Dockerfile"), "FROM scratch\nLABEL a=b\nRUN --mount=type=nonsense make\n");
        var e = await Assert.ThrowsAsync<LivrableException>(() => ImageBuilder.BuildAsync(request, NullLogger.Instance, CancellationToken.None));
        Assert.Equal("LIV5011", e.Code);
        Assert.Equal(Path.Combine(context, "Dockerfile"), e.Span?.File);
        Assert.Equal(3, e.Span?.Line);
        Assert.Equal(1, e.Span?.Column);
    }
}
