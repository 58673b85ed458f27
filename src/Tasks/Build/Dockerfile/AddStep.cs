using Livrable.Diagnostics;
using Livrable.Dockerfile;
using Livrable.Filesystem;
using Livrable.Images;
using Livrable.Layers;

namespace Livrable.Build.Dockerfile;

/// <summary>
/// ADD (https://docs.docker.com/reference/dockerfile/#add): COPY from the build context plus two source kinds. A local
/// file whose content is an archive (tar, gzip, bzip2, xz, zstd: sniffed, never by name) is extracted into the
/// destination folder unless <c>--unpack=false</c>. An http(s) URL is downloaded as one file (mode 0600, named after
/// the URL path, checked against <c>--checksum</c>), never extracted unless <c>--unpack=true</c>. Git sources are
/// LIV1109 (not supported yet).
/// </summary>
internal sealed class AddStep(StepContext step, AddInstruction add) : FileStep(step, add)
{
    private Digest? _checksum;

    protected override void BeforeSources(IReadOnlyList<string> sources)
    {
        foreach (string source in sources)
            if (IsGit(source))
                throw new LivrableException(DiagnosticCodes.GitSourceNotSupported,
                    $"ADD of a git repository ({source}) is not supported yet; clone it before the build and COPY it, or ADD an archive URL", Span);
        if (add.Checksum is null) return;
        if (sources.Count != 1 || add.Sources.Count != 1)
            throw new LivrableException(DiagnosticCodes.InvalidChecksum, "checksum can't be specified for multiple sources", Span);
        if (!IsHttp(sources[0]))
            throw new LivrableException(DiagnosticCodes.InvalidChecksum, "checksum requires HTTP(S) or Git sources", Span);
        string checksum = Services.Expander.Word(add.Checksum, State.Environment, Span);
        try
        {
            _checksum = Digest.Parse(checksum);
        }
        catch (LivrableException e)
        {
            throw new LivrableException(DiagnosticCodes.InvalidChecksum, $"invalid checksum '{checksum}': {e.Message}", Span, e);
        }
    }

    /// <summary>
    /// A local source's context files. A URL is not known before it is downloaded: even with <c>--checksum</c> the
    /// file's time comes from the response's <c>Last-Modified</c>, so the step runs, and the chain continues from the
    /// layer it made (later steps still hit).
    /// </summary>
    protected override Task<bool> AddSourceKeyAsync(string source, Cache.StepKey key, CancellationToken cancellationToken)
        => Task.FromResult(!IsHttp(source) && AddContextKey(source, key));

    protected override async Task AddSourceAsync(string source, CancellationToken cancellationToken)
    {
        if (!IsHttp(source))
        {
            await AddContextSourceAsync(source, unpack: add.Unpack ?? true, cancellationToken).ConfigureAwait(false);
            return;
        }
        var url = new Uri(source);
        string name = ImagePath.Name(PathRules.CleanAbsolute(url.AbsolutePath));
        if (name.Length == 0) name = "__unnamed__";
        if (add.Unpack == true)
        {
            string temporary = PathRules.Join("/", name);
            var downloaded = await UrlDownload.DownloadAsync(Services.Http, url, temporary, _checksum, Services.TempDirectory, cancellationToken).ConfigureAwait(false);
            await RecordDownloadAsync(url, downloaded, cancellationToken).ConfigureAwait(false);
            if (await ArchiveExtraction.IsArchiveAsync(downloaded.Open!, cancellationToken).ConfigureAwait(false))
            {
                await ExtractAsync(downloaded.Open!, cancellationToken).ConfigureAwait(false);
                return;
            }
            PlaceFile(name, downloaded, keepOwner: false);
            return;
        }
        string target = FileTarget(name);
        var entry = await UrlDownload.DownloadAsync(Services.Http, url, target, _checksum, Services.TempDirectory, cancellationToken).ConfigureAwait(false);
        await RecordDownloadAsync(url, entry, cancellationToken).ConfigureAwait(false);
        Plan.Add(Adjust(entry with { Path = target }, keepOwner: false));
    }

    /// <summary>Tells the build's listener (the provenance) the sha256 of what <paramref name="url"/> gave; a verified sha256 --checksum is that digest.</summary>
    private async Task RecordDownloadAsync(Uri url, FileEntry downloaded, CancellationToken cancellationToken)
    {
        if (Services.Downloaded is not { } listener) return;
        if (_checksum is { Algorithm: "sha256" } verified)
        {
            listener(url, verified);
            return;
        }
        var stream = await downloaded.Open!(cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            var hash = await System.Security.Cryptography.SHA256.HashDataAsync(stream, cancellationToken).ConfigureAwait(false);
            listener(url, Digest.FromSha256Hash(hash));
        }
    }

    private static bool IsHttp(string source)
        => (source.StartsWith("http://", StringComparison.Ordinal) || source.StartsWith("https://", StringComparison.Ordinal)) && !IsGit(source);

    /// <summary>BuildKit's git forms: <c>git@host:path</c>, <c>git://</c>, <c>ssh://</c>, and an http(s) URL whose path ends in <c>.git</c>.</summary>
    internal static bool IsGit(string source)
    {
        if (source.StartsWith("git@", StringComparison.Ordinal) || source.StartsWith("git://", StringComparison.Ordinal)
            || source.StartsWith("ssh://", StringComparison.Ordinal))
            return true;
        if (!source.StartsWith("http://", StringComparison.Ordinal) && !source.StartsWith("https://", StringComparison.Ordinal)) return false;
        return Uri.TryCreate(source, UriKind.Absolute, out var uri) && uri.AbsolutePath.TrimEnd('/').EndsWith(".git", StringComparison.Ordinal);
    }
}
