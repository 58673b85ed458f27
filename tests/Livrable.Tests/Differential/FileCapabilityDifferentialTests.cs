using Livrable.Tests.Infrastructure;
using Livrable.Tests.Runtime;
using Xunit;

namespace Livrable.Tests.Differential;

/// <summary>
/// <c>RUN setcap</c> built by BuildKit (dockerd 20.10's, <see cref="BuildKitPeer"/>) and by Livrable on the same base:
/// the layers' <c>SCHILY.xattr.*</c> PAX records are the same (read from both image tarballs by python's tarfile:
/// <c>security.capability</c> only, revision 2, on the file and on its hard link), and so are the unpacked trees. A
/// context file's capabilities are not copied by COPY in either (BuildKit's context transfer does not keep them); a
/// <c>COPY --from</c> (of an image or a stage) and an ADD of an archive keep them in both.
/// </summary>
[Collection(BuildKitCollection.Name)]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class FileCapabilityDifferentialTests(BuildKitFixture fixture)
{
    [Fact]
    public async Task A_RUN_s_setcap_gives_the_PAX_records_BuildKit_gives()
    {
        string context = fixture.Context("buildkit");
        File.WriteAllText(Path.Combine(context, "Dockerfile"), $"""
            FROM {BuildKitFixture.BaseName}
            COPY caps /caps
            COPY capped-context /copied/capped-context
            RUN mkdir /capped && cp /usr/bin/busybox /capped/busybox && ln /capped/busybox /capped/link && echo plain > /capped/plain \
                && {FileCapabilityTests.SetCap} cap_net_bind_service=+ep /capped/busybox

            """);
        await FileCapabilityTests.CopyCapabilityToolsAsync(context);
        File.Copy(Tools.Require("busybox"), Path.Combine(context, "capped-context"));
        await Tools.RunCheckedAsync("setcap", "cap_net_bind_service=+ep", Path.Combine(context, "capped-context"));

        var peer = await fixture.Peer.BuildAsync(context, new Dictionary<string, string>());
        var livrable = await fixture.BuildAsync(context, new Dictionary<string, string>());

        var peerRecords = await FileCapabilityTests.XattrRecordsAsync(Near(peer.RootFs, "saved.tar"));
        Assert.Equal([$"capped/busybox SCHILY.xattr.security.capability {FileCapabilityTests.NetBindServiceHex}",
            $"capped/link SCHILY.xattr.security.capability {FileCapabilityTests.NetBindServiceHex}"], peerRecords);
        Assert.Equal(peerRecords, await FileCapabilityTests.XattrRecordsAsync(Near(livrable.RootFs, "image.tar")));

        foreach (string folder in new[] { "/capped", "/copied" })
            Assert.Equal((await TreeSnapshot.ReadAsync(peer.RootFs)).Under(folder).ToList(), (await TreeSnapshot.ReadAsync(livrable.RootFs)).Under(folder).ToList());
    }

    /// <summary>
    /// A base whose layer has file capabilities (built by BuildKit itself: <c>RUN setcap</c>, so its records are
    /// BuildKit's), then over it: <c>COPY --from</c> the image and from a stage (a folder with a hard link, and
    /// <c>--chown</c> with <c>--chmod</c>), ADD of a tar python wrote with a capability record and a <c>user.*</c> one,
    /// and a RUN as uid 1000 of each copy. BuildKit keeps the capabilities through all of them (its copy and untar set
    /// them, its differ carries <c>security.capability</c> only) and the base layer's records unchanged; so must
    /// Livrable: the same records in both image tarballs, the same CapEff seen by the non-root RUN.
    /// </summary>
    [Fact]
    public async Task COPY_from_an_image_or_stage_and_ADD_of_an_archive_keep_file_capabilities_as_BuildKit_does()
    {
        string baseContext = fixture.Context("buildkit");
        File.WriteAllText(Path.Combine(baseContext, "Dockerfile"), $"""
            FROM scratch
            COPY busybox /bin/busybox
            RUN ["/bin/busybox", "--install", "-s", "/bin"]
            COPY caps /caps
            RUN mkdir /capped /out && chmod 777 /out && cp /bin/busybox /capped/busybox && ln /capped/busybox /capped/link \
                && {FileCapabilityTests.SetCap} cap_net_bind_service=+ep /capped/busybox

            """);
        File.Copy(Tools.Require("busybox"), Path.Combine(baseContext, "busybox"));
        await FileCapabilityTests.CopyCapabilityToolsAsync(baseContext);
        var capBase = await fixture.Peer.BuildAsync(baseContext, new Dictionary<string, string>());
        string baseName = capBase.Tag!;

        string context = fixture.Context("buildkit");
        // A tar as another tool writes it: a capability record on a file, on its hard link and on a file of uid 1000,
        // a user.* attribute beside one (carried by neither: the differs read security.capability only).
        await Tools.PythonAsync("""
            import io, sys, tarfile
            cap = bytes.fromhex(sys.argv[2]).decode('utf-8', 'surrogateescape')
            data = open(sys.argv[3], 'rb').read()
            with tarfile.open(sys.argv[1], 'w', format=tarfile.PAX_FORMAT) as t:
                d = tarfile.TarInfo('tree'); d.type = tarfile.DIRTYPE; d.mode = 0o755; t.addfile(d)
                for name, uid, extra in [('tree/busybox', 0, {}), ('tree/owned/busybox', 1000, {'SCHILY.xattr.user.note': 'kept?'})]:
                    if uid:
                        o = tarfile.TarInfo('tree/owned'); o.type = tarfile.DIRTYPE; o.mode = 0o755; t.addfile(o)
                    i = tarfile.TarInfo(name); i.size = len(data); i.mode = 0o755; i.uid = uid; i.gid = uid
                    i.pax_headers = {'SCHILY.xattr.security.capability': cap, **extra}
                    t.addfile(i, io.BytesIO(data))
                l = tarfile.TarInfo('tree/link'); l.type = tarfile.LNKTYPE; l.linkname = 'tree/busybox'; l.mode = 0o755
                l.pax_headers = {'SCHILY.xattr.security.capability': cap}; t.addfile(l)
                u = tarfile.TarInfo('tree/plain'); u.size = 3; u.pax_headers = {'SCHILY.xattr.user.note': 'x'}; t.addfile(u, io.BytesIO(b'abc'))
            """, Path.Combine(context, "capped.tar"), FileCapabilityTests.NetBindServiceHex, Tools.Require("busybox"));
        const string CapEff = "grep CapEff /proc/self/status";
        File.WriteAllText(Path.Combine(context, "Dockerfile"), $"""
            FROM {baseName} AS stage
            RUN mkdir /fresh && cp /bin/busybox /fresh/busybox && {FileCapabilityTests.SetCap} cap_net_raw=+ep /fresh/busybox

            FROM {baseName}
            COPY --from={baseName} /capped/busybox /image/busybox
            COPY --from=stage /capped /stage/capped
            COPY --from=stage /fresh /stage/fresh
            COPY --from=stage --chown=1000:1000 --chmod=0750 /capped/busybox /owned/busybox
            ADD capped.tar /added/
            USER 1000:1000
            RUN for f in /capped/busybox /image/busybox /stage/capped/link /stage/fresh/busybox /owned/busybox /added/tree/link /added/tree/owned/busybox; do \
                    echo "$f $($f {CapEff})"; done > /out/capeff.txt; echo "plain $({CapEff})" >> /out/capeff.txt

            """);

        var peer = await fixture.Peer.BuildAsync(context, new Dictionary<string, string>());
        var livrable = await DifferentialFixture.BuildAsync(context, new Dictionary<string, string>(), null,
            new Dictionary<string, string> { [baseName] = Near(capBase.RootFs, "saved.tar") });

        var peerRecords = await FileCapabilityTests.XattrRecordsAsync(Near(peer.RootFs, "saved.tar"));
        string bind = FileCapabilityTests.NetBindServiceHex;
        Assert.Equal(
        [
            $"added/tree/busybox SCHILY.xattr.security.capability {bind}",
            $"added/tree/link SCHILY.xattr.security.capability {bind}",
            $"added/tree/owned/busybox SCHILY.xattr.security.capability {bind}",
            // The base's layer, once: the output's copy of it is the same blob.
            $"capped/busybox SCHILY.xattr.security.capability {bind}",
            $"capped/link SCHILY.xattr.security.capability {bind}",
            $"image/busybox SCHILY.xattr.security.capability {bind}",
            $"owned/busybox SCHILY.xattr.security.capability {bind}",
            $"stage/capped/busybox SCHILY.xattr.security.capability {bind}",
            $"stage/capped/link SCHILY.xattr.security.capability {bind}",
            $"stage/fresh/busybox SCHILY.xattr.security.capability {NetRawHex}",
        ], peerRecords);
        Assert.Equal(peerRecords, await FileCapabilityTests.XattrRecordsAsync(Near(livrable.RootFs, "image.tar")));

        string capEff = File.ReadAllText(Path.Combine(peer.RootFs, "out", "capeff.txt"));
        Assert.Contains("/stage/fresh/busybox CapEff:\t0000000000002000\n", capEff);
        Assert.Contains("/owned/busybox CapEff:\t0000000000000400\n", capEff);
        Assert.Contains("plain CapEff:\t0000000000000000\n", capEff);
        Assert.Equal(capEff, File.ReadAllText(Path.Combine(livrable.RootFs, "out", "capeff.txt")));
        foreach (string folder in new[] { "/image", "/stage", "/owned", "/added" })
            Assert.Equal((await TreeSnapshot.ReadAsync(peer.RootFs)).Under(folder).ToList(), (await TreeSnapshot.ReadAsync(livrable.RootFs)).Under(folder).ToList());
    }

    /// <summary>
    /// Hard links whose capability records differ from their file's, in a tar python wrote, given to ADD (plain and
    /// with <c>--chown</c>) and as a <c>ContainerLayer</c> tar. BuildKit's untar (moby's <c>createTarFile</c>) links,
    /// then lchowns the link, which clears the shared inode's <c>security.capability</c> (chown(2) does, root's
    /// included), then sets the link's own record; its differ then writes the inode's value on every name. So every
    /// name of a file carries the record of the last entry naming it, none if that entry has none: group <c>a</c> (file
    /// capped, link bare) ends with none, <c>b</c> (file bare, link capped) with the link's on both, <c>c</c> (two
    /// records) with the link's, <c>d</c> (a bare link last) with none. <c>--chown</c> keeps the records (20.10 keeps
    /// the archive's owners; today's BuildKit chowns before it sets the records). A revision 3 record (a namespace root
    /// uid, 100000 or 0) is revision 2 in BuildKit's layer: moby's differ cuts it (<c>ReadSecurityXattrToTarHeader</c>).
    /// Livrable's ADD layer and its <c>ContainerLayer</c> layer of the same tars carry the same records as BuildKit's.
    /// </summary>
    [Fact]
    public async Task Hard_links_capability_records_the_chown_and_revision_3_in_an_ADD_tar_end_as_BuildKit_s_untar_leaves_them()
    {
        string context = fixture.Context("buildkit");
        await Tools.PythonAsync("""
            import io, struct, sys, tarfile
            bind = bytes.fromhex(sys.argv[2]); raw = bytes.fromhex(sys.argv[3])
            v3 = lambda root: bind[:3] + bytes([3]) + bind[4:] + struct.pack('<I', root)
            def add(t, name, cap, link=None, uid=0):
                i = tarfile.TarInfo(name); i.mode = 0o755; i.uid = i.gid = uid
                if cap is not None: i.pax_headers = {'SCHILY.xattr.security.capability': cap.decode('utf-8', 'surrogateescape')}
                if link: i.type = tarfile.LNKTYPE; i.linkname = link; t.addfile(i)
                else: i.size = 3; t.addfile(i, io.BytesIO(b'abc'))
            def folder(t, name):
                d = tarfile.TarInfo(name); d.type = tarfile.DIRTYPE; d.mode = 0o755; t.addfile(d)
            with tarfile.open(sys.argv[1] + '/links.tar', 'w', format=tarfile.PAX_FORMAT) as t:
                for group, records in [('a', [bind, None]), ('b', [None, bind]), ('c', [bind, raw]), ('d', [bind, raw, None]), ('e', [bind, bind])]:
                    folder(t, group)
                    add(t, group + '/file', records[0])
                    for n, record in enumerate(records[1:]): add(t, '%s/link%d' % (group, n), record, link=group + '/file')
            with tarfile.open(sys.argv[1] + '/owned.tar', 'w', format=tarfile.PAX_FORMAT) as t:
                folder(t, 'o'); add(t, 'o/file', bind, uid=1000); add(t, 'o/link', bind, link='o/file', uid=1000)
            with tarfile.open(sys.argv[1] + '/v3.tar', 'w', format=tarfile.PAX_FORMAT) as t:
                folder(t, 'r'); add(t, 'r/namespaced', v3(100000)); add(t, 'r/root', v3(0))
            """, context, FileCapabilityTests.NetBindServiceHex, NetRawHex);
        File.WriteAllText(Path.Combine(context, "Dockerfile"), $"""
            FROM {BuildKitFixture.BaseName}
            ADD links.tar /links/
            ADD --chown=1000:1000 owned.tar /owned/
            ADD v3.tar /v3/

            """);

        var peer = await fixture.Peer.BuildAsync(context, new Dictionary<string, string>());
        var livrable = await fixture.BuildAsync(context, new Dictionary<string, string>());

        string bind = FileCapabilityTests.NetBindServiceHex;
        var peerRecords = await FileCapabilityTests.XattrRecordsAsync(Near(peer.RootFs, "saved.tar"));
        Assert.Equal(
        [
            $"links/b/file SCHILY.xattr.security.capability {bind}",
            $"links/b/link0 SCHILY.xattr.security.capability {bind}",
            $"links/c/file SCHILY.xattr.security.capability {NetRawHex}",
            $"links/c/link0 SCHILY.xattr.security.capability {NetRawHex}",
            $"links/e/file SCHILY.xattr.security.capability {bind}",
            $"links/e/link0 SCHILY.xattr.security.capability {bind}",
            $"owned/o/file SCHILY.xattr.security.capability {bind}",
            $"owned/o/link SCHILY.xattr.security.capability {bind}",
            $"v3/r/namespaced SCHILY.xattr.security.capability {bind}",
            $"v3/r/root SCHILY.xattr.security.capability {bind}",
        ], peerRecords);
        Assert.Equal(peerRecords, await FileCapabilityTests.XattrRecordsAsync(Near(livrable.RootFs, "image.tar")));
        foreach (string folder in new[] { "/links", "/v3" })
            Assert.Equal((await TreeSnapshot.ReadAsync(peer.RootFs)).Under(folder).ToList(), (await TreeSnapshot.ReadAsync(livrable.RootFs)).Under(folder).ToList());

        // The same tars as ContainerLayer tars (TarLayerSpec) under the same folders: the records BuildKit's ADD gave.
        string work = Path.Combine(Path.GetDirectoryName(context)!, "container-layer");
        var request = new Livrable.Build.ImageBuildRequest
        {
            BaseImage = "scratch",
            Platform = DifferentialFixture.Platform,
            Repository = "livrable-diff/layers",
            Tags = ["t"],
            ArchivePath = Path.Combine(work, "image.tar"),
            StateDirectory = Path.Combine(work, "state"),
            Layers =
            [
                new Livrable.Layers.TarLayerSpec(Path.Combine(context, "links.tar"), "/links") { CreatedBy = "links" },
                new Livrable.Layers.TarLayerSpec(Path.Combine(context, "owned.tar"), "/owned") { CreatedBy = "owned" },
                new Livrable.Layers.TarLayerSpec(Path.Combine(context, "v3.tar"), "/v3") { CreatedBy = "v3" },
            ],
        };
        var built = await Livrable.Build.ImageBuilder.BuildAsync(request, Livrable.Diagnostics.NullLogger.Instance, CancellationToken.None);
        var image = await new Livrable.Sources.ArchiveImage(request.ArchivePath, "t", new Livrable.Store.BlobStore(Path.Combine(work, "reader")))
            .ResolveAsync(DifferentialFixture.Platform, CancellationToken.None);
        Assert.Equal(built.Digest, image.Digest);
        await ImageValidator.ValidateAsync(image);
        await ImageValidator.ValidateArchiveAsync(request.ArchivePath, image, "t", Path.Combine(work, "check"));
        Assert.Equal(peerRecords, await FileCapabilityTests.XattrRecordsAsync(request.ArchivePath));
    }

    /// <summary>
    /// A base image whose layer another tool wrote with the same hard link groups (a file and its links with differing
    /// records, none on some; busybox as the file): dockerd's layer store applies it with the same untar, so BuildKit's
    /// <c>COPY --from</c> of it and a RUN on it see every name of a file with the record of the last entry naming it
    /// (the base layer itself is kept as it is). Livrable's tree (<c>Filesystem/FileTree</c>) and its extraction for a
    /// RUN as root (<c>Runtime/LayerRootfs</c>) give the same records and the same CapEff to uid 1000.
    /// </summary>
    [Fact]
    public async Task A_base_layer_s_hard_links_give_COPY_from_and_RUN_the_capabilities_BuildKit_s_layer_store_leaves()
    {
        string context = fixture.Context("buildkit");
        const string BaseImage = "localhost/livrable-caps-links:1";
        string baseArchive = Path.Combine(Path.GetDirectoryName(context)!, "links-base.tar");
        await Tools.PythonAsync("""
            import hashlib, io, json, sys, tarfile
            bind = bytes.fromhex(sys.argv[3]); raw = bytes.fromhex(sys.argv[4]); data = open(sys.argv[5], 'rb').read()
            layer = io.BytesIO()
            with tarfile.open(fileobj=layer, mode='w', format=tarfile.PAX_FORMAT) as t:
                def folder(name, mode=0o755):
                    d = tarfile.TarInfo(name); d.type = tarfile.DIRTYPE; d.mode = mode; t.addfile(d)
                def add(name, cap, link=None):
                    i = tarfile.TarInfo(name); i.mode = 0o755
                    if cap is not None: i.pax_headers = {'SCHILY.xattr.security.capability': cap.decode('utf-8', 'surrogateescape')}
                    if link: i.type = tarfile.LNKTYPE; i.linkname = link; t.addfile(i)
                    else: i.size = len(data); t.addfile(i, io.BytesIO(data))
                folder('bin'); add('bin/busybox', None); folder('out', 0o777); folder('links')
                for group, records in [('a', [bind, None]), ('b', [None, bind]), ('c', [bind, raw]), ('d', [bind, raw, None])]:
                    folder('links/' + group)
                    add('links/%s/busybox' % group, records[0])
                    for n, record in enumerate(records[1:]):
                        folder('links/%s/l%d' % (group, n)); add('links/%s/l%d/busybox' % (group, n), record, link='links/%s/busybox' % group)
            layer = layer.getvalue()
            config = json.dumps({'architecture': 'amd64', 'os': 'linux', 'config': {}, 'history': [{'created_by': 'links'}],
                                 'rootfs': {'type': 'layers', 'diff_ids': ['sha256:' + hashlib.sha256(layer).hexdigest()]}}).encode()
            name = hashlib.sha256(config).hexdigest() + '.json'
            with tarfile.open(sys.argv[1], 'w') as image:
                for member, content in [('layer.tar', layer), (name, config),
                                        ('manifest.json', json.dumps([{'Config': name, 'RepoTags': [sys.argv[2]], 'Layers': ['layer.tar']}]).encode())]:
                    i = tarfile.TarInfo(member); i.size = len(content); image.addfile(i, io.BytesIO(content))
            """, baseArchive, BaseImage, FileCapabilityTests.NetBindServiceHex, NetRawHex, Tools.Require("busybox"));
        await fixture.Peer.LoadAsync(baseArchive);
        const string CapEff = "grep CapEff /proc/self/status";
        File.WriteAllText(Path.Combine(context, "Dockerfile"), $$"""
            FROM {{BaseImage}}
            COPY --from={{BaseImage}} /links /copied/
            USER 1000:1000
            RUN ["/bin/busybox", "sh", "-c", "for f in /links/a/busybox /links/a/l0/busybox /links/b/busybox /links/c/busybox /links/c/l0/busybox /links/d/l1/busybox; do echo \"$f $($f {{CapEff}})\"; done > /out/capeff.txt"]

            """);

        var peer = await fixture.Peer.BuildAsync(context, new Dictionary<string, string>());
        var livrable = await DifferentialFixture.BuildAsync(context, new Dictionary<string, string>(), null,
            new Dictionary<string, string> { [BaseImage] = baseArchive });

        string bind = FileCapabilityTests.NetBindServiceHex;
        var peerRecords = await FileCapabilityTests.XattrRecordsAsync(Near(peer.RootFs, "saved.tar"));
        Assert.Equal(
        [
            $"copied/b/busybox SCHILY.xattr.security.capability {bind}",
            $"copied/b/l0/busybox SCHILY.xattr.security.capability {bind}",
            $"copied/c/busybox SCHILY.xattr.security.capability {NetRawHex}",
            $"copied/c/l0/busybox SCHILY.xattr.security.capability {NetRawHex}",
            // The base layer as the other tool wrote it.
            $"links/a/busybox SCHILY.xattr.security.capability {bind}",
            $"links/b/l0/busybox SCHILY.xattr.security.capability {bind}",
            $"links/c/busybox SCHILY.xattr.security.capability {bind}",
            $"links/c/l0/busybox SCHILY.xattr.security.capability {NetRawHex}",
            $"links/d/busybox SCHILY.xattr.security.capability {bind}",
            $"links/d/l0/busybox SCHILY.xattr.security.capability {NetRawHex}",
        ], peerRecords);
        Assert.Equal(peerRecords, await FileCapabilityTests.XattrRecordsAsync(Near(livrable.RootFs, "image.tar")));

        string capEff = File.ReadAllText(Path.Combine(peer.RootFs, "out", "capeff.txt"));
        Assert.Equal(
            "/links/a/busybox CapEff:\t0000000000000000\n/links/a/l0/busybox CapEff:\t0000000000000000\n" +
            "/links/b/busybox CapEff:\t0000000000000400\n/links/c/busybox CapEff:\t0000000000002000\n" +
            "/links/c/l0/busybox CapEff:\t0000000000002000\n/links/d/l1/busybox CapEff:\t0000000000000000\n", capEff);
        Assert.Equal(capEff, File.ReadAllText(Path.Combine(livrable.RootFs, "out", "capeff.txt")));
        Assert.Equal((await TreeSnapshot.ReadAsync(peer.RootFs)).Under("/copied").ToList(), (await TreeSnapshot.ReadAsync(livrable.RootFs)).Under("/copied").ToList());
    }

    /// <summary><c>cap_net_raw=ep</c> as <c>struct vfs_cap_data</c> revision 2: magic 0x02000001, permitted bit 13.</summary>
    private const string NetRawHex = "0100000200200000000000000000000000000000";

    /// <summary>The file <paramref name="name"/> in the nearest folder above <paramref name="path"/> that holds one.</summary>
    private static string Near(string path, string name)
    {
        for (string? folder = Path.GetDirectoryName(path); folder is not null; folder = Path.GetDirectoryName(folder))
            if (File.Exists(Path.Combine(folder, name))) return Path.Combine(folder, name);
        throw new FileNotFoundException($"No {name} above {path}.");
    }
}
