using System.Globalization;
using System.Text.Json;

namespace Livrable.SupplyChain;

/// <summary>How the supply-chain documents are written: indented UTF-8 JSON, fields in a fixed order, no clock.</summary>
internal static class Documents
{
    private static readonly JsonWriterOptions Options = new()
    {
        Indented = true,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>The bytes <paramref name="write"/> makes, with a final newline.</summary>
    public static byte[] Write(Action<Utf8JsonWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, Options)) write(w);
        buffer.WriteByte((byte)'\n');
        return buffer.ToArray();
    }

    /// <summary>A time as RFC 3339 in UTC to the second (<c>2024-01-02T03:04:05Z</c>), as SPDX and SLSA write them.</summary>
    public static string Time(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    /// <summary>Livrable's version (major.minor.patch of the task assembly): the SBOM's creator and the provenance's builder version.</summary>
    public static string LivrableVersion => typeof(Documents).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";

    /// <summary>The URI naming Livrable as a builder; the buildType URI is under it.</summary>
    public const string BuilderId = "https://github.com/livrable/livrable";
}
