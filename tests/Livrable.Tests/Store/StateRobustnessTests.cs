using System.Diagnostics;
using Livrable.Build;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.MSBuild;
using Livrable.NetFramework;
using Livrable.Sources;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Livrable.Tests.MSBuild;
using TaskItem = Microsoft.Build.Utilities.TaskItem;
using Xunit;
using Xunit.Abstractions;
using Livrable.Layers;

namespace Livrable.Tests.Store;

/// <summary>
/// The state folder under stress (issue 6, item 5): eight builds at once sharing it, builds killed with SIGKILL at
/// random points and rerun, a full disk. After each, later builds succeed, give the image a clean state folder gives,
/// the images pass the validator and skopeo/umoci, and every blob in the store matches its digest. Each loop is bounded
/// (a fixed number of rounds of small images), never timed.
/// </summary>
public sealed class StateRobustnessTests(ITestOutputHelper output) : IDisposable
{
    private static readonly string CliPath = Path.Combine(AppContext.BaseDirectory, "Livrable.Cli.dll");
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    /// <summary>Incompressible bytes, the same for a given seed, with an old modification time so the layer cache records them.</summary>
    private string RandomFile(string path, int size, int seed)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var bytes = new byte[size];
        new Random(seed).NextBytes(bytes);
        File.WriteAllBytes(path, bytes);
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddHours(-1));
        return path;
    }

    /// <summary>A FROM-scratch image: busybox and a shared 1 MB layer (the same blob for every build), and a layer of its own.</summary>
    private ImageBuildRequest SharedRequest(string state, int n, long cap)
    {
        string shared = RandomFile(_temp["inputs", "shared", "blob.bin"], 1 << 20, 7);
        string own = _temp["inputs", $"app{n}"];
        Directory.CreateDirectory(own);
        File.WriteAllText(Path.Combine(own, "greeting.txt"), $"build {n}\n");
        File.SetLastWriteTimeUtc(Path.Combine(own, "greeting.txt"), DateTime.UtcNow.AddHours(-1));
        return new ImageBuildRequest
        {
            BaseImage = "scratch",
            Platform = Platform.FromRuntimeIdentifier("linux-x64"),
            Repository = "livrable-test/shared",
            Tags = [$"b{n}"],
            ArchivePath = _temp["out", $"b{n}-{Guid.NewGuid():N}.tar"],
            StateDirectory = state,
            StateMaxSize = cap,
            Layers =
            [
                new FilesLayerSpec([new LayerFile(Tools.Require("busybox"), "/bin/busybox")]) { CreatedBy = "busybox" },
                new FilesLayerSpec([new LayerFile(shared, "/data/blob.bin")]) { CreatedBy = "shared" },
                new DirectoryLayerSpec(own, "/app") { CreatedBy = "app" },
            ],
            Config = new ConfigChanges { Entrypoint = ["/bin/busybox", "cat", "/app/greeting.txt"] },
        };
    }

    /// <summary>The image a tarball holds, checked by the shared validator.</summary>
    private async Task<IImage> ReadAndValidateAsync(string archive, string tag)
    {
        var image = await new ArchiveImage(archive, tag, new BlobStore(_temp["reader", Guid.NewGuid().ToString("N")]))
            .ResolveAsync(new Platform("linux", "amd64"), CancellationToken.None);
        await ImageValidator.ValidateAsync(image);
        return image;
    }

    /// <summary>Every blob matches its digest, and nothing of a finished build is left in tmp/ or among the leases.</summary>
    private static void AssertStateIsSound(string state)
    {
        var folder = StateFolder.Open(state);
        Assert.Empty(StatePruner.VerifyBlobs(folder, remove: false));
        Assert.Empty(Directory.EnumerateFileSystemEntries(folder.TempDirectory));
        Assert.Empty(Directory.EnumerateFileSystemEntries(folder.LeasesDirectory));
    }

    [Fact]
    public async Task Eight_builds_at_once_share_one_state_folder_while_half_of_them_evict_everything_at_their_end()
    {
        string state = _temp["state"];
        string clean = _temp["clean-state"];
        var reference = await ImageBuilder.BuildAsync(SharedRequest(clean, 0, StatePruner.DefaultMaxSize), NullLogger.Instance, CancellationToken.None);

        // Two waves: the second reuses (or, after an eviction, rewrites) what the first stored, while evictions run.
        for (int wave = 0; wave < 2; wave++)
        {
            var requests = Enumerable.Range(0, 8).Select(n => SharedRequest(state, n, cap: n % 2 == 0 ? 0 : StatePruner.DefaultMaxSize)).ToList();
            var results = await Task.WhenAll(requests.Select(r => Task.Run(() => ImageBuilder.BuildAsync(r, NullLogger.Instance, CancellationToken.None))));

            for (int n = 0; n < 8; n++)
            {
                var image = await ReadAndValidateAsync(requests[n].ArchivePath!, $"b{n}");
                Assert.Equal(results[n].Digest, image.Digest);
                Assert.Equal(reference.Digest == results[n].Digest, n == 0);
                Assert.Equal(3, image.Layers.Count);
            }
            if (wave == 1)
            {
                string rootfs = await ImageValidator.ValidateArchiveAsync(requests[3].ArchivePath!, await ReadAndValidateAsync(requests[3].ArchivePath!, "b3"), "b3", _temp["check"]);
                Assert.Equal("build 3\n", File.ReadAllText(Path.Combine(rootfs, "app", "greeting.txt")));
            }
            AssertStateIsSound(state);
        }
    }

    [Fact]
    public async Task Builds_killed_at_random_points_leave_nothing_a_later_build_trusts()
    {
        string state = _temp["state"];
        string request = WriteCliRequest(state, out var task);
        task.StateDirectory = _temp["clean-state"];
        var reference = await ImageBuilder.BuildAsync(task.CreateRequest(), NullLogger.Instance, CancellationToken.None);
        File.Delete(task.ArchiveOutputPath!);

        // A fixed seed: the same kill points on every run, spread over start-up, layer writing, caching and output.
        var random = new Random(20261128);
        int killed = 0;
        for (int round = 0; round < 8; round++)
        {
            int delay = random.Next(50, 2000);
            using var process = StartCli(request);
            bool exited = await WaitAsync(process, delay);
            if (!exited)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
                killed++;
            }
            output.WriteLine($"round {round}: {(exited ? $"finished (exit {process.ExitCode})" : "killed")} after {delay} ms");
            if (exited)
            {
                // A finished build cached its layers: drop the records (not the blobs) so the next kill lands in layer writing again.
                string records = StateLayout.Records(state, CacheRecordKind.Steps);
                if (Directory.Exists(records))
                    foreach (string record in Directory.EnumerateFiles(records)) File.Delete(record);
            }
        }
        Assert.True(killed > 0, "no build was killed: the kill points are too late for this machine");

        var rerun = await Tools.RunAsync("dotnet", [CliPath, request], TimeSpan.FromMinutes(2));
        Assert.True(rerun.ExitCode == 0, rerun.Stdout + rerun.Stderr);
        var image = await ReadAndValidateAsync(task.ArchiveOutputPath!, "v1");
        Assert.Equal(reference.Digest, image.Digest);
        await ImageValidator.ValidateArchiveAsync(task.ArchiveOutputPath!, image, "v1", _temp["check"]);
        AssertStateIsSound(state);
    }

    [Fact]
    public async Task Builds_killed_while_their_tarball_is_written_leave_no_record_that_trusts_a_partial_one()
    {
        // The tarball is not flushed to disk (Outputs/OutputRecord): what keeps a partial one from being taken as up to
        // date is the order temp file, record removed, rename, record written. Each round kills a build of the other
        // tag than the tarball holds, from the moment its temporary tarball appears to a few milliseconds later (the
        // write, the rename, the record); then the same build in process must give a tarball of that tag and image.
        string state = _temp["state"];
        string[] requests = new string[2];
        BuildContainerImage task = null!;
        for (int t = 0; t < 2; t++)
        {
            requests[t] = WriteCliRequest(state, out task);
            task.Tags = [$"v{t + 1}"];
            File.WriteAllText(requests[t] = _temp[$"request-v{t + 1}.json"], RequestWriter.Write(task));
        }
        string archive = task.ArchiveOutputPath!;
        string folder = Path.GetDirectoryName(archive)!;
        Directory.CreateDirectory(folder);
        task.Tags = ["v1"];
        var reference = await ImageBuilder.BuildAsync(task.CreateRequest(), NullLogger.Instance, CancellationToken.None);

        int killed = 0;
        int[] delays = [0, 1, 2, 3, 5, 8, 13, 21, 34];
        for (int round = 0; round < delays.Length; round++)
        {
            int tag = round % 2 == 0 ? 2 : 1;
            // Killed writes leave their temporary files (removed by a write once a minute old): wait for a new one.
            var before = Directory.EnumerateFiles(folder, "killed.tar.tmp-*").ToHashSet();
            using var process = StartCli(requests[tag - 1]);
            while (!process.HasExited && Directory.EnumerateFiles(folder, "killed.tar.tmp-*").All(before.Contains)) await Task.Delay(1);
            if (delays[round] > 0) await Task.Delay(delays[round]);
            bool kill = !process.HasExited;
            if (kill)
            {
                process.Kill(entireProcessTree: true);
                killed++;
            }
            await process.WaitForExitAsync();
            bool leftTemporary = Directory.EnumerateFiles(folder, "killed.tar.tmp-*").Any(f => !before.Contains(f));

            task.Tags = [$"v{tag}"];
            var result = await ImageBuilder.BuildAsync(task.CreateRequest(), NullLogger.Instance, CancellationToken.None);
            output.WriteLine($"round {round}: {(kill ? "killed" : "finished")} {delays[round]} ms after the temporary tarball appeared{(leftTemporary ? ", which it left" : "")}");
            Assert.Equal(reference.Digest, result.Digest);
            var image = await ReadAndValidateAsync(archive, $"v{tag}");
            Assert.Equal(reference.Digest, image.Digest);
        }
        Assert.True(killed > 0, "no build was killed while writing its tarball");
        string last = task.Tags[0];
        await ImageValidator.ValidateArchiveAsync(archive, await ReadAndValidateAsync(archive, last), last, _temp["check"]);
        AssertStateIsSound(state);
    }

    [Fact]
    public async Task After_a_full_disk_the_next_build_with_room_succeeds_and_the_store_is_sound()
    {
        string disk = _temp["small-disk"];
        Directory.CreateDirectory(disk);
        await Tools.RunCheckedAsync("mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", disk);
        try
        {
            string state = Path.Combine(disk, "state");
            var request = SharedRequest(state, 1, StatePruner.DefaultMaxSize) with
            {
                Layers = [.. SharedRequest(state, 1, 0).Layers,
                          new FilesLayerSpec([new LayerFile(RandomFile(_temp["inputs", "big.bin"], 4 << 20, 9), "/big.bin")]) { CreatedBy = "big" }],
            };
            var e = await Assert.ThrowsAsync<LivrableException>(() => ImageBuilder.BuildAsync(request, NullLogger.Instance, CancellationToken.None));
            Assert.Equal(DiagnosticCodes.DiskFull, e.Code);
            AssertStateIsSound(state);

            await Tools.RunCheckedAsync("mount", "-o", "remount,size=64m", disk);
            var result = await ImageBuilder.BuildAsync(request, NullLogger.Instance, CancellationToken.None);
            var reference = await ImageBuilder.BuildAsync(request with { StateDirectory = _temp["clean-state"], ArchivePath = _temp["ref.tar"] },
                NullLogger.Instance, CancellationToken.None);
            Assert.Equal(reference.Digest, result.Digest);
            await ReadAndValidateAsync(request.ArchivePath!, "b1");
            AssertStateIsSound(state);
        }
        finally
        {
            await Tools.RunAsync("umount", ["--lazy", disk]);
        }
    }

    /// <summary>The CLI's request for a FROM-scratch image with 8 MB of incompressible data (a second of work to interrupt).</summary>
    private string WriteCliRequest(string state, out BuildContainerImage task)
    {
        string data = _temp["inputs", "data"];
        RandomFile(Path.Combine(data, "a.bin"), 4 << 20, 1);
        RandomFile(Path.Combine(data, "b.bin"), 4 << 20, 2);
        Directory.SetLastWriteTimeUtc(data, DateTime.UtcNow.AddHours(-1));
        string motd = _temp["inputs", "motd"];
        File.WriteAllText(motd, "killed and rerun\n");
        File.SetLastWriteTimeUtc(motd, DateTime.UtcNow.AddHours(-1));
        var dataLayer = new TaskItem(data);
        dataLayer.SetMetadata("Destination", "/data");
        var motdLayer = new TaskItem(motd);
        motdLayer.SetMetadata("Destination", "/etc/");
        task = new BuildContainerImage
        {
            BuildEngine = new BuildContainerImageTests.FakeEngine(),
            BaseImage = "scratch",
            RuntimeIdentifier = "linux-x64",
            Repository = "killed",
            Tags = ["v1"],
            ArchiveOutputPath = _temp["out", "killed.tar"],
            StateDirectory = state,
            Layers = [dataLayer, motdLayer],
        };
        string path = _temp["request.json"];
        File.WriteAllText(path, RequestWriter.Write(task));
        return path;
    }

    private static Process StartCli(string request)
    {
        var start = new ProcessStartInfo(Tools.Require("dotnet"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(CliPath);
        start.ArgumentList.Add(request);
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>Whether the process ended within <paramref name="milliseconds"/> (where to kill it, not an assertion).</summary>
    private static async Task<bool> WaitAsync(Process process, int milliseconds)
    {
        using var cts = new CancellationTokenSource(milliseconds);
        try
        {
            await process.WaitForExitAsync(cts.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
