namespace Livrable.SupplyChain.Inventory;

/// <summary>
/// One package found in an image: its ecosystem's name and version, its package URL
/// (https://github.com/package-url/purl-spec), the license it declares (an SPDX expression, or null), and where its
/// record was found (a path in the image, or <c>publish</c> for the app's NuGet packages).
/// </summary>
public sealed record SoftwarePackage(string Ecosystem, string Name, string Version, string Purl, string? License, string Source);

/// <summary>Package URL building: the purl spec's percent-encoding of each component.</summary>
public static class PackageUrl
{
    /// <summary><c>pkg:TYPE/[NAMESPACE/]NAME@VERSION[?QUALIFIERS]</c>, each part percent-encoded, qualifiers sorted by key.</summary>
    public static string Create(string type, string? @namespace, string name, string version, IReadOnlyDictionary<string, string>? qualifiers = null)
    {
        var text = new System.Text.StringBuilder("pkg:").Append(type).Append('/');
        if (!string.IsNullOrEmpty(@namespace))
            text.Append(string.Join('/', @namespace.Split('/').Select(Encode))).Append('/');
        text.Append(Encode(name)).Append('@').Append(Encode(version));
        if (qualifiers is { Count: > 0 })
            text.Append('?').Append(string.Join('&', qualifiers.Where(q => q.Value.Length > 0).OrderBy(q => q.Key, StringComparer.Ordinal)
                .Select(q => q.Key + "=" + Encode(q.Value))));
        return text.ToString();
    }

    /// <summary>Percent-encodes everything but the unreserved characters of RFC 3986 (letters, digits, <c>-._~</c>).</summary>
    public static string Encode(string value)
    {
        var text = new System.Text.StringBuilder();
        foreach (byte b in System.Text.Encoding.UTF8.GetBytes(value))
        {
            char c = (char)b;
            if (b < 0x80 && (char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_' or '~')) text.Append(c);
            else text.Append('%').Append(b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
        }
        return text.ToString();
    }
}
