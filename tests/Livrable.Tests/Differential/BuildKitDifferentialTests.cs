using Livrable.Diagnostics;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Differential;

/// <summary>
/// Dockerfiles (<c>Differential/Cases/buildkit*</c>) built by BuildKit (dockerd 20.10's, <see cref="BuildKitPeer"/>)
/// and by Livrable on the same merged-/usr base, then compared: the config fields a Dockerfile sets
/// (<see cref="ConfigSnapshot"/>) and the unpacked trees path by path (<see cref="TreeSnapshot"/>: type, mode with the
/// special bits, owner, size, content, link target, hard-link group). Where dockerd 20.10's BuildKit is older than
/// today's, the peer's result is patched to today's with a comment citing the change; the rest is compared as built.
/// RUN-free features the 2021 frontend lacks (heredocs, <c>--link</c>, <c>--parents</c>, <c>--exclude</c>) stay in the
/// buildah suite (<see cref="DifferentialTests"/>).
/// </summary>
[Collection(BuildKitCollection.Name)]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class BuildKitDifferentialTests(BuildKitFixture fixture)
{
    private static readonly Dictionary<string, string> NoArgs = [];

    private static void Mode(string path, string octal) => File.SetUnixFileMode(path, (UnixFileMode)Convert.ToInt32(octal, 8));

    private static string Sha(string text)
        => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text)));

    [Fact]
    public async Task Issue_15_cases_and_ordinary_copies_give_the_tree_and_config_BuildKit_gives()
    {
        string context = fixture.Context("buildkit");
        Mode(Path.Combine(context, "suid"), "4755");
        string payload = Path.Combine(context, "payload");
        Directory.CreateDirectory(payload);
        File.WriteAllText(Path.Combine(payload, "x.txt"), "in archive\n");
        await Tools.RunCheckedAsync("tar", "-C", payload, "--sort=name", "--mtime=@0", "--owner=42", "--group=43", "--numeric-owner",
            "-cf", Path.Combine(context, "a.tar"), "x.txt");
        Directory.Delete(payload, recursive: true);
        // Git does not carry hard links: hl/a, hl/b and hl/sub/c are one file.
        Directory.CreateDirectory(Path.Combine(context, "hl", "sub"));
        File.WriteAllText(Path.Combine(context, "hl", "a"), "linked\n");
        await Tools.RunCheckedAsync("ln", Path.Combine(context, "hl", "a"), Path.Combine(context, "hl", "b"));
        await Tools.RunCheckedAsync("ln", Path.Combine(context, "hl", "a"), Path.Combine(context, "hl", "sub", "c"));

        var peer = await fixture.Peer.BuildAsync(context, NoArgs);
        var livrable = await fixture.BuildAsync(context, NoArgs);
        var peerTree = await TreeSnapshot.ReadAsync(peer.RootFs);
        var livrableTree = await TreeSnapshot.ReadAsync(livrable.RootFs);

        var configDifferences = ConfigSnapshot.Differences(ConfigSnapshot.Parse(peer.ConfigJson), ConfigSnapshot.Parse(livrable.ConfigJson), "buildkit");
        Assert.True(configDifferences.Count == 0, "Configs differ:\n" + string.Join('\n', configDifferences));

        // dockerd 20.10's BuildKit leaves the mount points runc made for RUN (/dev, /proc, /sys) in the layer as empty
        // folders; today's removes them (executor/oci's mount stub cleaner, moby/buildkit#3070), as Livrable does.
        var expected = peerTree;
        foreach (string stub in new[] { "/dev", "/proc", "/sys" })
            if (peerTree[stub] is { Type: 'd' } && !peerTree.Entries.Keys.Any(p => p.StartsWith(stub + "/", StringComparison.Ordinal)))
                expected = expected.Without(stub);
        // Today's fsutil gives a --chmod'ed file the --chmod bits alone, the source's setuid dropped (copy.go: the mode is
        // the Chmod's, not OR'ed with the special bits); 20.10's kept it (4755).
        expected = expected.With(peerTree["/s3/suid"]! with { Mode = "0755" });
        // Today's BuildKit gives what an ADD'ed archive holds the --chown owner (solver/llbsolver/file/unpack.go,
        // mapArchiveHeaderOwner); 20.10's kept the archive's 42:43.
        expected = expected.With(peerTree["/s5/x.txt"]! with { Uid = 7, Gid = 8 });
        var differences = TreeSnapshot.Differences(expected, livrableTree, "buildkit");
        Assert.True(differences.Count == 0, "File trees differ:\n" + string.Join('\n', differences));

        // What BuildKit confirmed, spelled out. 4: the image's /etc/hostname changed by RUN.
        Assert.Equal(new TreeEntry("/etc/hostname", 'f', "0644", 1, 1, null, Sha("built\n"), 6), livrableTree["/etc/hostname"]);
        // 3: the links stay; their targets got the content.
        Assert.Equal("../usr/lib/os-release", livrableTree["/etc/os-release"]?.LinkTarget);
        Assert.Equal(Sha("ID=mine\n"), livrableTree["/usr/lib/os-release"]?.Sha256);
        Assert.Equal("/usr/share/zoneinfo/UTC", livrableTree["/etc/localtime"]?.LinkTarget);
        Assert.Equal(Sha("TZif-mine\n"), livrableTree["/usr/share/zoneinfo/UTC"]?.Sha256);
        Assert.Equal(('f', Sha("base issue\n")), (livrableTree["/etc/issue"]!.Type, livrableTree["/usr/lib/issue"]?.Sha256));
        // 2: the folders made are 0755; what was copied has the --chmod mode.
        Assert.Equal(["0755", "0755", "0755", "0755", "0755", "0755"],
            new[] { "/s0", "/s1", "/usr/local", "/c", "/c/x", "/c/x/y" }.Select(p => livrableTree[p]?.Mode));
        Assert.Equal(("0700", "0600", "0644"), (livrableTree["/s0/sub"]?.Mode, livrableTree["/s1/f.txt"]?.Mode, livrableTree["/usr/local/sub"]?.Mode));
        // 5: one file with three names, another with two (its owner and mode kept); two sources, two files.
        Assert.Equal(["/s2/f", "/s2/f", "/s2/f"], new[] { "/s2/f", "/s2/hl", "/s2/sub/hl2" }.Select(p => livrableTree[p]?.HardLinkOf));
        Assert.Equal(new TreeEntry("/s2/g2", 'f', "0640", 1000, 50, null, Sha("g\n"), 2, "/s2/g"), livrableTree["/s2/g2"]);
        Assert.Null(livrableTree["/s2-files/hl"]?.HardLinkOf);
        Assert.Equal(["/hl/a", "/hl/a", "/hl/a"], new[] { "/hl/a", "/hl/b", "/hl/sub/c" }.Select(p => livrableTree[p]?.HardLinkOf));
        // The three that were right already: --chmod drops setuid (without it, it is kept); ADD --chown owns an archive's entries.
        Assert.Equal(("0755", "4755"), (livrableTree["/s3/suid"]?.Mode, livrableTree["/s4/suid"]?.Mode));
        Assert.Equal((7L, 8L), (livrableTree["/s5/x.txt"]!.Uid, livrableTree["/s5/x.txt"]!.Gid));
        Assert.Equal(('l', "usr/bin"), (livrableTree["/bin"]!.Type, livrableTree["/bin"]!.LinkTarget));
        Assert.Equal('f', livrableTree["/usr/bin/newdir/sub/b"]?.Type);
        Assert.Equal('f', livrableTree["/etc/mtab"]?.Type);
    }

    [Theory]
    [InlineData("metadata", "meta")]
    [InlineData("metadata", "exec-entry")]
    [InlineData("copy", null)]
    [InlineData("add", null)]
    [InlineData("merge", null)]
    [InlineData("stages", "child")]
    public async Task The_buildah_suite_s_cases_give_the_tree_and_config_BuildKit_gives(string name, string? target)
    {
        string context = await CaseContexts.PrepareAsync(name, fixture.Context(name));
        var args = name == "metadata" ? new Dictionary<string, string> { ["WHO"] = "there" } : NoArgs;

        var peer = await fixture.Peer.BuildAsync(context, args, target);
        var livrable = await fixture.BuildAsync(context, args, target);
        var peerTree = await TreeSnapshot.ReadAsync(peer.RootFs);
        var livrableTree = await TreeSnapshot.ReadAsync(livrable.RootFs);

        var expectedConfig = ConfigSnapshot.Parse(peer.ConfigJson);
        // Today's frontend expands the pairs of one ARG in order (ARG P=1 Q=$P gives Q=1, so ENV PQ=$P$Q is 11,
        // reference 3 "ARG"); the one dockerd 20.10 embeds expands them all against the env before the line (Q empty).
        if (target == "meta") expectedConfig = expectedConfig.WithEnv("PQ", "11");
        var configDifferences = ConfigSnapshot.Differences(expectedConfig, ConfigSnapshot.Parse(livrable.ConfigJson), "buildkit");
        Assert.True(configDifferences.Count == 0, "Configs differ:\n" + string.Join('\n', configDifferences));
        var expected = peerTree;
        // Today's BuildKit gives what an ADD'ed archive holds the --chown owner (mapArchiveHeaderOwner); 20.10's kept
        // the archive's 42:43 (ADD --chown=app:staff payload.tar /owned/).
        if (name == "add")
            foreach (var e in peerTree.Under("/owned/inner").ToList())
                expected = expected.With(e with { Uid = 1000, Gid = 50 });
        var differences = TreeSnapshot.Differences(expected, livrableTree, "buildkit");
        Assert.True(differences.Count == 0, "File trees differ:\n" + string.Join('\n', differences));
    }

    [Fact]
    public async Task A_folder_copied_onto_a_symlink_of_the_image_fails_at_the_COPY_as_in_BuildKit()
    {
        string context = fixture.Context("buildkit-refused");
        // tree/bin/tool: made here, a folder named bin being build output to git's ignore rules.
        Directory.CreateDirectory(Path.Combine(context, "tree", "bin"));
        File.WriteAllText(Path.Combine(context, "tree", "bin", "tool"), "tool\n");

        var peer = await fixture.Peer.TryBuildAsync(context, "livrable-diff/refused", NoArgs, "usrmerge");
        Assert.NotEqual(0, peer.ExitCode);
        Assert.Matches(@"cannot copy to non-directory: \S*/bin\b", peer.Output);

        var e = await Assert.ThrowsAsync<LivrableException>(() => fixture.BuildAsync(context, NoArgs, "usrmerge"));
        Assert.Equal(DiagnosticCodes.NotADirectory, e.Code);
        Assert.Equal(3, e.Span?.Line);
        Assert.Contains("cannot copy to non-directory: /bin", e.Message);
    }

    [Fact]
    public async Task An_unknown_chown_name_is_LIV1080_where_BuildKit_gives_root()
    {
        // A documented choice (docs/dockerfile-choices.md, src/Tasks/Filesystem/README.md): BuildKit's readUser gives 0
        // for a name /etc/passwd does not hold; Livrable refuses it, as the Dockerfile reference says.
        string context = fixture.Context("buildkit-refused");

        var peer = await fixture.Peer.BuildAsync(context, NoArgs, "unknown-user");
        Assert.Equal((0L, 0L), ((await TreeSnapshot.ReadAsync(peer.RootFs))["/x"]!.Uid, (await TreeSnapshot.ReadAsync(peer.RootFs))["/x"]!.Gid));

        var e = await Assert.ThrowsAsync<LivrableException>(() => fixture.BuildAsync(context, NoArgs, "unknown-user"));
        Assert.Equal(DiagnosticCodes.UnknownUser, e.Code);
        Assert.Equal(6, e.Span?.Line);
    }
}
