using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Differential;

/// <summary>
/// RUN-free Dockerfiles (<c>Differential/Cases/*</c>) built by Livrable and by buildah, then compared: the config
/// fields a Dockerfile sets (<see cref="ConfigSnapshot"/>) and the unpacked file trees (<see cref="TreeSnapshot"/>:
/// path, type, mode, owner, link target, content). BuildKit is the reference: where buildah 1.28 behaves like the
/// classic builder, or lacks a feature, the peer's result is patched to BuildKit's with a comment saying why, and the
/// rest is compared as is. See Differential/README.md.
/// </summary>
[Collection(DifferentialCollection.Name)]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class DifferentialTests(DifferentialFixture fixture)
{
    private static readonly Dictionary<string, string> NoArgs = [];

    private static void AssertSame(ConfigSnapshot peer, ConfigSnapshot livrable)
    {
        var differences = ConfigSnapshot.Differences(peer, livrable);
        Assert.True(differences.Count == 0, "Configs differ:\n" + string.Join('\n', differences) + "\n\nLivrable's:\n" + livrable);
    }

    private static void AssertSame(TreeSnapshot peer, TreeSnapshot livrable)
    {
        var differences = TreeSnapshot.Differences(peer, livrable);
        Assert.True(differences.Count == 0, "File trees differ:\n" + string.Join('\n', differences));
    }

    private async Task<(ConfigSnapshot Peer, TreeSnapshot PeerTree, ConfigSnapshot Livrable, TreeSnapshot LivrableTree)> BuildBothAsync(
        string context, IReadOnlyDictionary<string, string> buildArgs, string? target = null)
    {
        var peer = await fixture.Peer.BuildAsync(context, buildArgs, target);
        var livrable = await fixture.BuildAsync(context, buildArgs, target);
        return (ConfigSnapshot.Parse(peer.ConfigJson), await TreeSnapshot.ReadAsync(peer.RootFs),
                ConfigSnapshot.Parse(livrable.ConfigJson), await TreeSnapshot.ReadAsync(livrable.RootFs));
    }

    [Fact]
    public async Task Metadata_instructions_set_the_config_fields_as_buildah_does_with_BuildKit_rules_where_they_differ()
    {
        string context = fixture.Context("metadata");
        var args = new Dictionary<string, string> { ["WHO"] = "there" };

        var (peer, peerTree, livrable, livrableTree) = await BuildBothAsync(context, args, "meta");
        // BuildKit: an ARG with a value is added to the build env like an ENV, so the later declaration wins
        // (reference 5; ARG X=arg after ENV X=env gives $X=arg). buildah keeps the classic builder's rule, ENV always wins.
        // BuildKit expands ARG pairs one by one (ARG P=1 Q=$P gives Q=1, reference 3 "ARG"); buildah expands them all
        // against the env before the line, so Q is empty.
        // BuildKit expands EXPOSE ranges to one entry per port and lowercases the protocol (reference 8.24); buildah
        // stores "8000-8002/udp" and "53/UDP" as written.
        // BuildKit wraps a shell-form ENTRYPOINT (or CMD) in the SHELL in effect (reference 8.11); buildah 1.28 always
        // wraps shell forms in /bin/sh -c, whatever SHELL says.
        var expected = peer
            .WithEnv("FROM_X", "arg")
            .WithEnv("PQ", "11")
            .With("ExposedPorts", """["443/tcp","53/udp","80/tcp","8000/udp","8001/udp","8002/udp"]""")
            .With("Entrypoint", """["/bin/busybox","sh","-c","/bin/busybox httpd -f"]""");
        AssertSame(expected, livrable);
        Assert.Equal(["Entrypoint", "Env", "ExposedPorts", "Healthcheck", "Labels", "OnBuild", "Shell", "StopSignal", "User", "Volumes", "WorkingDir", "author"],
            livrable.Fields.Keys);
        // The folders WORKDIR creates belong to USER app:staff, resolved in the image (BuildKit's dispatchWorkdir:
        // llb.Mkdir(..., WithUser)), as buildah does too.
        AssertSame(peerTree, livrableTree);
        // The rules the peer confirmed, spelled out: ENV pairs see the values from before the line, the base's Cmd is
        // dropped by ENTRYPOINT, relative WORKDIRs join (and the peer creates them as the USER, app:staff = 1000:50).
        Assert.Equal(
            ["BASEVAR=base", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "A=one", "B=1", "C=two words",
             "GREETING=hello there", "X=env", "FROM_X=arg", "Y=envy", "FROM_Y=envy", "PQ=11"],
            livrable.Env);
        Assert.False(livrable.Fields.ContainsKey("Cmd"));
        Assert.Equal("\"/srv/app/one\"", livrable.Fields["WorkingDir"]);
        Assert.Equal(new TreeEntry("/srv/app/one", 'd', "0755", 1000, 50, null, null), peerTree["/srv/app/one"]);

        (peer, peerTree, livrable, livrableTree) = await BuildBothAsync(context, args, "exec-entry");
        AssertSame(peer, livrable);
        AssertSame(peerTree, livrableTree);
        Assert.Equal("""["/bin/sh","-c","echo \u0022$HOME\u0022"]""", livrable.Fields["Cmd"]);

        (peer, peerTree, livrable, livrableTree) = await BuildBothAsync(context, args, "entry-only");
        AssertSame(peer, livrable);
        AssertSame(peerTree, livrableTree);
        Assert.False(livrable.Fields.ContainsKey("Cmd"));
    }

    [Fact]
    public async Task COPY_from_the_context_gives_the_tree_buildah_gives()
    {
        string context = await CaseContexts.PrepareAsync("copy", fixture.Context("copy"));

        var (peer, peerTree, livrable, livrableTree) = await BuildBothAsync(context, NoArgs);

        AssertSame(peer, livrable);
        // The folder "COPY --chmod=0751 dir /chmod-dir/" creates is 0755, as in BuildKit (fsutil's MkdirAll(target,
        // 0755, ...)) and buildah: --chmod applies to the copied entries only.
        AssertSame(peerTree, livrableTree);
        Assert.Equal("0755", livrableTree["/chmod-dir"]?.Mode);
        // What the peer confirmed, for the reader: contents not the folder, nested symlinks kept, re-included files.
        Assert.Null(livrableTree["/contents/dir"]);
        Assert.Equal("target.txt", livrableTree["/links/rel-link"]?.LinkTarget);
        Assert.Equal('d', livrableTree["/followed-dir"]?.Type);
        Assert.Equal(["/ignored", "/ignored/keep.txt", "/ignored/sub", "/ignored/sub/keep.log"], livrableTree.Under("/ignored").Select(e => e.Path));
        Assert.Equal(new TreeEntry("/own/user-only.txt", 'f', "0644", 1000, 1000, null, livrableTree["/own/user-only.txt"]?.Sha256, livrableTree["/own/user-only.txt"]!.Size), livrableTree["/own/user-only.txt"]);
    }

    [Fact]
    public async Task ADD_of_local_archives_and_files_gives_the_tree_buildah_gives_with_chown_applied_to_extracted_entries()
    {
        string context = await CaseContexts.PrepareAsync("add", fixture.Context("add"));

        var (peer, peerTree, livrable, livrableTree) = await BuildBothAsync(context, NoArgs);

        AssertSame(peer, livrable);
        // BuildKit gives every extracted entry the --chown owner ("explicit --chown values override the header
        // ownership", solver/llbsolver/file/unpack.go: mapArchiveHeaderOwner); buildah 1.28 chowns only the destination
        // folder it creates and keeps the archive's 42:43 inside.
        var expected = peerTree;
        foreach (var e in peerTree.Under("/owned/inner").ToList())
            expected = expected.With(e with { Uid = 1000, Gid = 50 });
        AssertSame(expected, livrableTree);
        Assert.Equal(new TreeEntry("/gz/inner/locked", 'd', "0700", 42, 43, null, null), livrableTree["/gz/inner/locked"]);
        Assert.Equal('f', livrableTree["/not/not-an-archive.tar.gz"]?.Type);
    }

    [Fact]
    public async Task Stages_COPY_from_ONBUILD_and_target_give_what_buildah_gives()
    {
        string context = await CaseContexts.PrepareAsync("stages", fixture.Context("stages"));

        var (peer, peerTree, livrable, livrableTree) = await BuildBothAsync(context, NoArgs, "child");

        AssertSame(peer, livrable);
        AssertSame(peerTree, livrableTree);
        Assert.Equal("""{"base":"1","stage":"child","triggered":"yes"}""", livrable.Fields["Labels"]);
        Assert.False(livrable.Fields.ContainsKey("OnBuild"));
        Assert.Equal(1000, livrableTree["/from-index/sub/two.txt"]?.Uid);
        Assert.Equal(50, livrableTree["/from-index/sub/two.txt"]?.Gid);
        Assert.Equal('f', livrableTree["/triggered/trigger.txt"]?.Type);
        Assert.Equal(new TreeEntry("/followed-from-stage.txt", 'f', "0644", 1000, 50, null, livrableTree["/from-name.txt"]?.Sha256, livrableTree["/from-name.txt"]!.Size), livrableTree["/followed-from-stage.txt"]);
        Assert.Equal("one.txt", livrableTree["/from-index/link"]?.LinkTarget);
        Assert.Null(livrableTree["/nowhere"]);
    }

    [Fact]
    public async Task Copying_onto_existing_folders_files_and_symlinks_gives_the_tree_buildah_gives()
    {
        string context = await CaseContexts.PrepareAsync("merge", fixture.Context("merge"));

        var (peer, peerTree, livrable, livrableTree) = await BuildBothAsync(context, NoArgs);

        AssertSame(peer, livrable);
        // BuildKit keeps setuid and setgid from the context (fsutil's copyFileInfo chmods with the source's whole
        // os.FileMode; reference 3 "COPY": permission bits preserved); buildah 1.28 drops setuid when it copies
        // (0755 here; the sticky bit of a folder it keeps).
        AssertSame(peerTree.With(peerTree["/special/suid"]! with { Mode = "4755" }), livrableTree);
        Assert.Equal("0750", livrableTree["/etc"]?.Mode);
        Assert.Equal("4755", livrableTree["/special/suid"]?.Mode);
        Assert.Equal('f', livrableTree["/into/real/renamed.txt"]?.Type);
        Assert.Equal((1234L, 5678L), (livrableTree["/home/numeric/deeper"]!.Uid, livrableTree["/home/numeric/deeper"]!.Gid));
    }

    [Fact]
    public async Task BuildKit_features_buildah_lacks_give_the_expected_tree()
    {
        // buildah 1.28 reads "COPY <<EOF" as a file named "<<EOF", fails an empty wildcard, and looks stages up by
        // their exact name; so this Dockerfile is Livrable's alone and the expected tree is written here, from BuildKit's
        // rules (reference 1.7, 8.15, 8.21): heredoc files are 0644 0:0 unless --chmod/--chown say otherwise; a
        // quoted delimiter turns expansion off; the raw expander keeps quotes and honours \$.
        string context = fixture.Context("livrable-only");

        var livrable = await fixture.BuildAsync(context, NoArgs);
        var tree = await TreeSnapshot.ReadAsync(livrable.RootFs);

        static string Sha(string text) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text)));
        Assert.Equal(
            [
                new TreeEntry("/expanded.txt", 'f', "0644", 0, 0, null, Sha("hello heredoc from \"/docs\" $NAME\n"), 33),
                new TreeEntry("/literal.txt", 'f', "0644", 0, 0, null, Sha("hello $NAME\n"), 12),
                new TreeEntry("/multi", 'd', "0755", 1000, 1000, null, null),
                new TreeEntry("/multi/EOF", 'f', "0755", 1000, 1000, null, Sha("tabs stripped\n"), 14),
                new TreeEntry("/multi/TWO", 'f', "0755", 1000, 1000, null, Sha("second\n"), 7),
            ],
            tree.Entries.Values);
    }
}
