using Livrable.Tests.Infrastructure;
using Livrable.Tests.Runtime;
using Xunit;

namespace Livrable.Tests.Differential;

/// <summary>
/// <c>RUN setcap</c> built by BuildKit (dockerd 20.10's, <see cref="BuildKitPeer"/>) and by Livrable on the same base:
/// the layers' <c>SCHILY.xattr.*</c> PAX records are the same (read from both image tarballs by python's tarfile:
/// <c>security.capability</c> only, revision 2, on the file and on its hard link), and so are the unpacked trees. A
/// context file's capabilities are not copied by COPY in either (BuildKit's context transfer does not keep them).
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

    /// <summary>The file <paramref name="name"/> in the nearest folder above <paramref name="path"/> that holds one.</summary>
    private static string Near(string path, string name)
    {
        for (string? folder = Path.GetDirectoryName(path); folder is not null; folder = Path.GetDirectoryName(folder))
            if (File.Exists(Path.Combine(folder, name))) return Path.Combine(folder, name);
        throw new FileNotFoundException($"No {name} above {path}.");
    }
}
