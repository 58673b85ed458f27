using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Build.Dockerfile;

/// <summary>
/// Issue 14, pyapp's edit: a build to an image tarball starts writing it with the target stage's layers when its first
/// step misses (<c>Outputs/ArchivePrefix</c>), while the steps left run; the tarball is the one the same inputs give
/// whatever step started it (a cold build starts it at its first RUN, an edit at its COPY), and the tools read it.
/// </summary>
public sealed partial class BuildCacheTests
{
    private const string EditedApp = Busybox + """
        COPY app.txt /app.txt
        RUN cat /app.txt > /out.txt

        """;

    [Fact]
    public async Task An_edit_writes_the_tarballs_first_layers_while_its_steps_run_and_the_same_bytes_as_a_cold_build()
    {
        using var w = new Workspace();
        w.Write("app.txt", "one\n");
        var first = await BuildAsync(w, EditedApp);
        Assert.Contains(first.Logger.Lines, l => l.Contains("the tarball's first 1 layers written while the steps run"));

        w.Write("app.txt", "two\n");
        var edit = await BuildAsync(w, EditedApp);

        Assert.Equal(["COPY app.txt /app.txt", "RUN cat /app.txt > /out.txt"], edit.Ran);
        Assert.Contains(edit.Logger.Lines, l => l.Contains("the tarball's first 2 layers written while the steps run"));
        Assert.Contains(edit.Logger.Lines, l => l.Contains("2 layers written while the steps ran"));
        Assert.Equal("two\n", Read(edit, "/out.txt"));

        // The same inputs in a state folder of their own: every step runs, the write starts at the first RUN.
        using var cold = new TempDirectory();
        var clean = await BuildAsync(w, EditedApp, stateDirectory: cold["state"]);
        Assert.Equal(4, clean.Ran.Count);
        Assert.Equal(edit.Image.Digest, clean.Image.Digest);
        Assert.Equal(File.ReadAllBytes(TarballOf(edit)), File.ReadAllBytes(TarballOf(clean)));
    }

    [Fact]
    public async Task A_build_whose_last_step_fails_after_the_early_start_leaves_the_old_tarball_and_nothing_else()
    {
        using var w = new Workspace();
        w.Write("app.txt", "one\n");
        string work = w.NewFolder("same");
        var request = Request(w, work);
        w.Write("Dockerfile", EditedApp);
        await Livrable.Build.ImageBuilder.BuildAsync(request, new RecordingLogger(), CancellationToken.None);
        byte[] old = File.ReadAllBytes(request.ArchivePath!);

        w.Write("app.txt", "two\n");
        w.Write("Dockerfile", EditedApp.Replace("RUN cat /app.txt > /out.txt", "RUN cat /app.txt && exit 3"));
        var logger = new RecordingLogger();
        await Assert.ThrowsAsync<Livrable.Diagnostics.LivrableException>(() => Livrable.Build.ImageBuilder.BuildAsync(request, logger, CancellationToken.None));

        Assert.Contains(logger.Lines, l => l.Contains("the tarball's first 2 layers written while the steps run"));
        Assert.Equal(old, File.ReadAllBytes(request.ArchivePath!));
        Assert.Equal([request.ArchivePath!], Directory.EnumerateFiles(work));
        // Its record still vouches for it: the first Dockerfile again writes nothing.
        w.Write("app.txt", "one\n");
        w.Write("Dockerfile", EditedApp);
        var again = new RecordingLogger();
        await Livrable.Build.ImageBuilder.BuildAsync(request, again, CancellationToken.None);
        Assert.Contains(again.Lines, l => l.Contains("Up to date:"));
        Assert.Equal(old, File.ReadAllBytes(request.ArchivePath!));
    }

    /// <summary>The tarball a build wrote: <c>&lt;work&gt;/image.tar</c> beside <c>&lt;work&gt;/check/bundle/rootfs</c> (<see cref="ReadAsync"/>).</summary>
    private static string TarballOf(Built built)
        => Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(Path.GetDirectoryName(built.Rootfs)!)!)!, "image.tar");
}
