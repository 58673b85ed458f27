using Livrable.Build;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Build.Dockerfile;

/// <summary>
/// Issue 10 item 18: an error of a step's own work (an ADD URL that cannot be fetched, a path the image cannot hold, a
/// full disk) was reported at the task in <c>Livrable.Sdk.targets(462,5)</c>; it is reported at the instruction,
/// <c>Dockerfile(line,col)</c>. A full disk while a layer is extracted for RUN is LIV4006 (free space), not LIV5007.
/// Built through <see cref="ImageBuilder"/>, as the task builds.
/// </summary>
public sealed class StepErrorLocationTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private (ImageBuildRequest Request, string Dockerfile) Prepare(string dockerfile, string state, Action<string>? context = null)
    {
        string contextDirectory = _temp["context-" + Guid.NewGuid().ToString("N")[..8]];
        Directory.CreateDirectory(contextDirectory);
        string path = Path.Combine(contextDirectory, "Dockerfile");
        File.WriteAllText(path, dockerfile);
        context?.Invoke(contextDirectory);
        return (new ImageBuildRequest
        {
            Platform = Platform.FromRuntimeIdentifier("linux-x64"),
            Repository = "livrable-test/where",
            Tags = ["v1"],
            ArchivePath = _temp["out", Guid.NewGuid().ToString("N") + ".tar"],
            StateDirectory = state,
            Dockerfile = new DockerfileBuild { DockerfilePath = path, ContextDirectory = contextDirectory },
        }, path);
    }

    private async Task<LivrableException> FailAsync(string dockerfile, Action<string>? context = null)
    {
        var (request, _) = Prepare(dockerfile, _temp["state"], context);
        return await Assert.ThrowsAsync<LivrableException>(() => ImageBuilder.BuildAsync(request, NullLogger.Instance, CancellationToken.None));
    }

    [Fact]
    public async Task An_ADD_URL_that_cannot_be_fetched_is_reported_at_its_line()
    {
        // Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
        var e = await FailAsync("FROM scratch\n\nADD http://127.0.0.1:9/file.txt /file.txt\n");
        Assert.NotNull(e.Span);
        Assert.EndsWith("Dockerfile", e.Span!.Value.File);
        Assert.Equal(3, e.Span.Value.Line);
        Assert.Equal(DiagnosticCodes.DownloadFailed, e.Code);
    }

    [Fact]
    public async Task A_path_the_image_cannot_hold_LIV4011_is_reported_at_its_line()
    {
        // A NUL in the destination: no tar name can hold it.
        var e = await FailAsync("FROM scratch\nLABEL a=b\nCOPY f.txt /a\0b\n", context => File.WriteAllText(Path.Combine(context, "f.txt"), "f\n"));
        Assert.Equal(DiagnosticCodes.InvalidLayerPath, e.Code);
        Assert.Equal(3, e.Span?.Line);
    }

    [Fact]
    public async Task A_full_disk_while_extracting_a_layer_for_RUN_is_LIV4006_at_the_RUN()
    {
        string disk = _temp["small-disk"];
        Directory.CreateDirectory(disk);
        await Tools.RunCheckedAsync("mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", disk);
        try
        {
            // 16 MB of zeros compress to a few KB: the blob fits, its extraction does not.
            var (request, dockerfile) = Prepare("FROM scratch\nCOPY busybox /bin/busybox\nCOPY zeros /zeros\nRUN [\"/bin/busybox\", \"true\"]\n",
                Path.Combine(disk, "state"), context =>
                {
                    File.Copy(Tools.Require("busybox"), Path.Combine(context, "busybox"));
                    File.WriteAllBytes(Path.Combine(context, "zeros"), new byte[16 << 20]);
                });
            var e = await Assert.ThrowsAsync<LivrableException>(() => ImageBuilder.BuildAsync(request, NullLogger.Instance, CancellationToken.None));
            Assert.Equal(DiagnosticCodes.DiskFull, e.Code);
            Assert.Equal((dockerfile, 4), (e.Span?.File, e.Span?.Line));
            Assert.Contains("ContainerStateDirectory", e.Message);
        }
        finally
        {
            await Tools.RunAsync("umount", ["--lazy", disk]);
        }
    }
}
