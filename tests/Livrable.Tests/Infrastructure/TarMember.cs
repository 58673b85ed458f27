using System.Text.Json;

namespace Livrable.Tests.Infrastructure;

/// <summary>A tar member as python's tarfile reports it: an independent reader of the tars Livrable writes.</summary>
public sealed record TarMember(
    string Name, string Type, int Mode, long Uid, long Gid, string Uname, string Gname, long Mtime, long Size,
    string Linkname, int Devmajor, int Devminor, Dictionary<string, string> Pax)
{
    /// <summary>
    /// The members of the tar at <paramref name="tarPath"/> (plain or compressed, detected by tarfile), in archive order.
    /// </summary>
    public static async Task<IReadOnlyList<TarMember>> ReadAllAsync(string tarPath)
    {
        const string script = """
            import json, sys, tarfile
            out = []
            with tarfile.open(sys.argv[1], 'r:*') as t:
                for m in t:
                    out.append(dict(name=m.name, type=m.type.decode('latin-1'), mode=m.mode, uid=m.uid, gid=m.gid,
                                    uname=m.uname, gname=m.gname, mtime=int(m.mtime), size=m.size, linkname=m.linkname,
                                    devmajor=m.devmajor, devminor=m.devminor, pax=m.pax_headers))
            json.dump(out, sys.stdout)
            """;
        string json = await Tools.PythonAsync(script, tarPath);
        return JsonSerializer.Deserialize<List<TarMember>>(json, new JsonSerializerOptions { PropertyNameCaseInsensitive = true })!;
    }
}
