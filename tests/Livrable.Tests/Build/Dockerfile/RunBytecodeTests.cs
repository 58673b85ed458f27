using Livrable.Build;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Sources;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Build.Dockerfile;

/// <summary>
/// The Python bytecode a RUN compiled stays current in the image although the layer gives its sources the epoch
/// (<c>Layers/BytecodeTimes</c>): built with real runc and overlay, read back by umoci, and judged by Python itself
/// (<c>python3 -v</c> says whether a module's <c>.pyc</c> matches its source or is stale), a source that is a
/// symbolic link included.
/// </summary>
public sealed class RunBytecodeTests(RunFixture fixture) : IClassFixture<RunFixture>
{
    /// <summary>The time the RUN gives the sources, as <c>dpkg</c> or <c>pip</c> would leave a package's.</summary>
    private const long SourceTime = 1600000000;

    [Fact]
    public async Task A_pyc_current_for_its_source_when_the_RUN_ended_is_current_in_the_image_and_a_stale_one_stays_stale()
    {
        string work = fixture.NewFolder("bytecode");
        string context = Path.Combine(work, "context");
        Directory.CreateDirectory(Path.Combine(context, "src"));
        File.Copy(Tools.Require("busybox"), Path.Combine(context, "busybox"));
        // The host's Python compiles both modules (so its magic number is the one that judges them below): fresh.pyc
        // for fresh.py as the RUN leaves it, stale.pyc for a stale.py one second older than the one the RUN leaves.
        string tag = (await Tools.PythonAsync("""
            import os, py_compile, sys
            src = sys.argv[1]
            for name, seconds in (("fresh", int(sys.argv[2])), ("stale", int(sys.argv[2]) + 1), ("linked", int(sys.argv[2]))):
                path = os.path.join(src, name + ".py")
                with open(path, "w") as f: f.write("VALUE = %r\n" % name)
                os.utime(path, (seconds, seconds))
                py_compile.compile(path, cfile=os.path.join(src, name + ".pyc"), invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)
            print(sys.implementation.cache_tag)
            """, Path.Combine(context, "src"), SourceTime.ToString(System.Globalization.CultureInfo.InvariantCulture))).Trim();
        File.WriteAllText(Path.Combine(context, "Dockerfile"), $"""
            FROM scratch
            COPY busybox /bin/busybox
            RUN ["/bin/busybox", "--install", "-s", "/bin"]
            COPY src /src
            RUN mkdir -p /app/__pycache__ && cp /src/fresh.py /src/stale.py /app/ && touch -d @{SourceTime} /app/fresh.py /app/stale.py \
             && cp /src/fresh.pyc /app/__pycache__/fresh.{tag}.pyc && cp /src/stale.pyc /app/__pycache__/stale.{tag}.pyc \
             && mkdir /lib2 && cp /src/linked.py /lib2/real.py && touch -d @{SourceTime} /lib2/real.py && ln -s ../lib2/real.py /app/linked.py \
             && cp /src/linked.pyc /app/__pycache__/linked.{tag}.pyc

            """);
        var request = TestRequests.Dockerfile(context, "livrable-test/bytecode", Path.Combine(work, "out", "image.tar"), fixture.StateDirectory);
        await ImageBuilder.BuildAsync(request, NullLogger.Instance, CancellationToken.None);
        var image = await new ArchiveImage(request.ArchivePath!, "v1", new BlobStore(Path.Combine(work, "reader"))).ResolveAsync(request.Platform, CancellationToken.None);
        string rootfs = await ImageValidator.ValidateArchiveAsync(request.ArchivePath!, image, "v1", Path.Combine(work, "check"));

        // The layer gave the sources the epoch, as every file (docs/reproducibility.md).
        var epoch = Livrable.Layers.Reproducibility.DefaultEpoch.ToUnixTimeSeconds();
        Assert.Equal(epoch, new DateTimeOffset(File.GetLastWriteTimeUtc(Path.Combine(rootfs, "app", "fresh.py"))).ToUnixTimeSeconds());
        var python = await Tools.RunAsync("python3", ["-v", "-c", "import fresh, stale, linked; print(fresh.VALUE, stale.VALUE, linked.VALUE)"],
            environment: new Dictionary<string, string> { ["PYTHONPATH"] = Path.Combine(rootfs, "app"), ["PYTHONDONTWRITEBYTECODE"] = "1" });
        python.EnsureSuccess();
        Assert.Equal("fresh stale linked", python.Stdout.Trim());
        string cache = Path.Combine(rootfs, "app", "__pycache__");
        Assert.Contains($"{Path.Combine(cache, $"fresh.{tag}.pyc")} matches {Path.Combine(rootfs, "app", "fresh.py")}", python.Stderr);
        Assert.Contains("bytecode is stale for 'stale'", python.Stderr);
        // A source that is a link (Debian's sitecustomize.py): Python follows it, and so did the layer.
        Assert.Contains($"{Path.Combine(cache, $"linked.{tag}.pyc")} matches {Path.Combine(rootfs, "app", "linked.py")}", python.Stderr);
    }
}
