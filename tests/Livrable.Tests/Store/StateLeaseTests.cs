using Livrable.Build;
using Livrable.Sources;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Store;

/// <summary>
/// A lease's deferred work (<see cref="StateLease.Defer"/>): a Dockerfile build's step folders are removed while its
/// image is written, and the lease ends only once that removal has ended, so nothing of the build is left behind and no
/// later build's clean-up races it.
/// </summary>
public sealed class StateLeaseTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task A_lease_ends_after_its_deferred_work_and_then_removes_its_folder()
    {
        var folder = StateFolder.Open(_temp["state"]);
        var lease = await folder.AcquireLeaseAsync(null, null, CancellationToken.None);
        string steps = Path.Combine(lease.TempDirectory, "dockerfile-1");
        Directory.CreateDirectory(steps);
        var release = new TaskCompletionSource();
        lease.Defer(Task.Run(async () =>
        {
            await release.Task;
            Directory.Delete(steps, recursive: true);
        }));
        lease.Defer(Task.FromException(new IOException("a removal that failed: the lease's own removal takes what it left")));

        var ending = Task.Run(lease.Dispose);
        await Task.Delay(200);
        Assert.False(ending.IsCompleted);
        Assert.True(Directory.Exists(lease.TempDirectory));

        release.SetResult();
        await ending.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.False(Directory.Exists(lease.TempDirectory));
        Assert.Empty(Directory.EnumerateFileSystemEntries(folder.LeasesDirectory));
    }

    /// <summary>
    /// A Dockerfile build whose last step is a RUN (its step folder, with the upper folder no later RUN adopted, is
    /// removed while the image is written) leaves no temporary folder and no lease behind. Real runc and overlay.
    /// </summary>
    [Fact]
    public async Task A_Dockerfile_build_ending_with_a_RUN_leaves_nothing_in_the_temporary_folder()
    {
        string context = _temp["ctx"];
        Directory.CreateDirectory(context);
        File.Copy(Tools.Require("busybox"), Path.Combine(context, "busybox"));
        File.WriteAllText(Path.Combine(context, "Dockerfile"), "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo ran > /ran.txt\"]\n");
        string state = _temp["state"];
        var request = TestRequests.Dockerfile(context, "livrable-test/lease", _temp["out.tar"], state);
        await ImageBuilder.BuildAsync(request, new RecordingLogger(), CancellationToken.None);
        var image = await new ArchiveImage(request.ArchivePath!, "v1", new BlobStore(_temp["reader"])).ResolveAsync(request.Platform, CancellationToken.None);
        await ImageValidator.ValidateAsync(image);
        string rootfs = await ImageValidator.ValidateArchiveAsync(request.ArchivePath!, image, "v1", _temp["check"]);
        Assert.Equal("ran\n", File.ReadAllText(Path.Combine(rootfs, "ran.txt")));

        var folder = StateFolder.Open(state);
        Assert.Empty(Directory.EnumerateFileSystemEntries(folder.TempDirectory));
        Assert.Empty(Directory.EnumerateFileSystemEntries(folder.LeasesDirectory));
    }
}
