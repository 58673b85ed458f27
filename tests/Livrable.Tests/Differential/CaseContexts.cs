using Livrable.Tests.Infrastructure;

namespace Livrable.Tests.Differential;

/// <summary>
/// What git does not carry well, added to a copied case's context (<c>Differential/Cases/&lt;name&gt;</c>) the same way
/// for every peer: symlinks, empty folders, odd modes (0600, 0700, 0750, 4755, 1777) and the archives of <c>add</c>
/// (GNU tar with owner 42:43, gzip, xz, a gzip named <c>.bin</c>).
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public static class CaseContexts
{
    private static void Mode(string path, string octal) => File.SetUnixFileMode(path, (UnixFileMode)Convert.ToInt32(octal, 8));

    /// <summary>Prepares the copied context <paramref name="context"/> of case <paramref name="name"/>; returns it.</summary>
    public static async Task<string> PrepareAsync(string name, string context)
    {
        switch (name)
        {
            case "copy":
                Mode(Path.Combine(context, "exec.sh"), "755");
                Mode(Path.Combine(context, "secret.txt"), "600");
                Mode(Path.Combine(context, "dir", "nested", "deep"), "700");
                File.CreateSymbolicLink(Path.Combine(context, "links", "rel-link"), "target.txt");
                File.CreateSymbolicLink(Path.Combine(context, "links", "abs-link"), "/etc/passwd");
                Directory.CreateSymbolicLink(Path.Combine(context, "link-to-dir"), "dir");
                File.CreateSymbolicLink(Path.Combine(context, "link-to-file"), "a.txt");
                break;
            case "add":
                string payload = Path.Combine(context, "payload");
                Mode(Path.Combine(payload, "inner", "locked"), "700");
                File.CreateSymbolicLink(Path.Combine(payload, "inner", "link"), "file.txt");
                string tar = Path.Combine(context, "payload.tar");
                await Tools.RunCheckedAsync("tar", "-C", payload, "--sort=name", "--mtime=@0", "--owner=42", "--group=43", "--numeric-owner", "-cf", tar, "inner");
                await using (var gz = File.Create(tar + ".gz"))
                    (await Tools.RunAsync("gzip", ["-n", "-c", tar], stdout: gz)).EnsureSuccess();
                await using (var xz = File.Create(tar + ".xz"))
                    (await Tools.RunAsync("xz", ["-c", tar], stdout: xz)).EnsureSuccess();
                File.Copy(tar + ".gz", Path.Combine(context, "disguised.bin"));
                Directory.Delete(payload, recursive: true);
                break;
            case "stages":
                File.CreateSymbolicLink(Path.Combine(context, "payload", "link"), "one.txt");
                break;
            case "merge":
                Mode(Path.Combine(context, "special", "suid"), "4755");
                Directory.CreateDirectory(Path.Combine(context, "special", "empty"));
                Mode(Path.Combine(context, "special", "empty"), "700");
                Directory.CreateDirectory(Path.Combine(context, "special", "sticky"));
                Mode(Path.Combine(context, "special", "sticky"), "1777");
                Mode(Path.Combine(context, "etc-extra"), "700");
                Mode(Path.Combine(context, "rootfs", "etc"), "750");
                Mode(Path.Combine(context, "passwd"), "600");
                Directory.CreateSymbolicLink(Path.Combine(context, "into", "link-to-real"), "real");
                break;
        }
        return context;
    }
}
