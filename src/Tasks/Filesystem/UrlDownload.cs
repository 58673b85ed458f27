using System.Net;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Layers;
using Livrable.Network;

namespace Livrable.Filesystem;

/// <summary>
/// <c>ADD &lt;url&gt;</c> (BuildKit's HTTP source, <c>source/http</c>): one GET, the body streamed to a file while it is
/// hashed, checked against <c>--checksum</c> when given, and one entry: mode 0600, owner 0:0, the time from
/// <c>Last-Modified</c>. Never extracted here (ADD does so only with <c>--unpack</c>).
/// </summary>
public static class UrlDownload
{
    /// <summary>How many redirects are followed, as Go's http client does.</summary>
    public const int MaxRedirects = 10;

    /// <summary>The name a download gets in a destination directory, as the Dockerfile frontend gives it.</summary>
    public const string UnnamedFile = "__unnamed__";

    /// <summary>
    /// The file name of <paramref name="url"/> in a destination ending in <c>/</c>: the last segment of the URL's path
    /// (unescaped, trailing slashes dropped, as Go's <c>path.Base</c>), or <c>__unnamed__</c> when the path has none.
    /// The redirects and any Content-Disposition do not change it (dockerfile2llb passes the name to the HTTP source).
    /// </summary>
    public static string FileName(Uri url)
    {
        ArgumentNullException.ThrowIfNull(url);
        string path = Uri.UnescapeDataString(url.AbsolutePath).TrimEnd('/');
        string name = path[(path.LastIndexOf('/') + 1)..];
        return name is "" or "." or ".." ? UnnamedFile : name;
    }

    /// <summary>
    /// Downloads <paramref name="url"/> into a new file in <paramref name="tempDirectory"/> and returns its entry at
    /// <paramref name="destinationPath"/> (the caller has applied the trailing-slash rule with <see cref="FileName"/>;
    /// a path still ending in <c>/</c> gets the name appended here). Redirects are followed up to
    /// <see cref="MaxRedirects"/> (by the client's handler, or here when it does not), never from https to http.
    /// Throws LIV4072 when the download fails (an error status, no answer, too many redirects, a scheme other than
    /// http or https), LIV4071 when <paramref name="checksum"/> is given and the bytes do not match it, and LIV3011
    /// when a redirect points at a link-local address, or at a private one while <paramref name="url"/> is public
    /// (<see cref="RedirectGuard"/>; the handler must then leave redirects to this method).
    /// </summary>
    public static async Task<FileEntry> DownloadAsync(HttpClient client, Uri url, string destinationPath, Digest? checksum,
        string tempDirectory, CancellationToken cancellationToken, RedirectGuard? guard = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(url);
        ArgumentException.ThrowIfNullOrEmpty(destinationPath);
        ArgumentException.ThrowIfNullOrEmpty(tempDirectory);
        if (!url.IsAbsoluteUri || url.Scheme is not ("http" or "https"))
            throw new LivrableException(DiagnosticCodes.DownloadFailed, $"ADD cannot download '{url}': only http and https URLs are supported.");
        string path = destinationPath.EndsWith('/') ? destinationPath + FileName(url) : destinationPath;

        using var response = await GetAsync(client, url, guard ?? new RedirectGuard(), cancellationToken).ConfigureAwait(false);
        Directory.CreateDirectory(tempDirectory);
        string file = Path.Combine(tempDirectory, $"download-{Guid.NewGuid():N}");
        long size = 0;
        Digest actual;
        using var hash = (checksum ?? default).Algorithm is null
            ? System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256)
            : checksum!.Value.CreateHash();
        try
        {
            var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            await using (body.ConfigureAwait(false))
            {
                var output = new FileStream(file, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
                await using (output.ConfigureAwait(false))
                {
                    var buffer = new byte[1 << 16];
                    int n;
                    while ((n = await body.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
                    {
                        hash.AppendData(buffer, 0, n);
                        await output.WriteAsync(buffer.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
                        size += n;
                    }
                }
            }
            byte[] sum = hash.GetHashAndReset();
            actual = checksum is { } c ? c.WithHash(sum) : Digest.FromSha256Hash(sum);
        }
        catch (HttpRequestException e)
        {
            File.Delete(file);
            throw new LivrableException(DiagnosticCodes.DownloadFailed, $"ADD: downloading {url} failed: {e.Message}", inner: e);
        }
        catch (IOException e) when (e.InnerException is HttpRequestException or System.Net.Sockets.SocketException)
        {
            File.Delete(file);
            throw new LivrableException(DiagnosticCodes.DownloadFailed, $"ADD: downloading {url} failed: {e.Message}", inner: e);
        }
        if (checksum is { } expected && actual != expected)
        {
            File.Delete(file);
            throw new LivrableException(DiagnosticCodes.ChecksumMismatch,
                $"ADD: {url} has digest {actual}, not the {expected} that --checksum gives.");
        }
        if (response.Content.Headers.ContentLength is { } length && length != size)
        {
            File.Delete(file);
            throw new LivrableException(DiagnosticCodes.DownloadFailed, $"ADD: {url} sent {size} bytes of the {length} it announced.");
        }

        return new FileEntry(ImagePath.Clean(path), TarTypeFlag.RegularFile, 0x180 /* 0600 */, 0, 0)
        {
            Size = size,
            ModificationTime = response.Content.Headers.LastModified,
            Open = _ => Task.FromResult<Stream>(FileTree.OpenRead(file)),
        };
    }

    private static async Task<HttpResponseMessage> GetAsync(HttpClient client, Uri url, RedirectGuard guard, CancellationToken cancellationToken)
    {
        var current = url;
        for (int redirects = 0; ; redirects++)
        {
            HttpResponseMessage response;
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, current);
                response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            }
            catch (HttpRequestException e)
            {
                throw new LivrableException(DiagnosticCodes.DownloadFailed, $"ADD: {current} could not be reached: {e.Message}", inner: e);
            }
            catch (TaskCanceledException e) when (!cancellationToken.IsCancellationRequested)
            {
                throw new LivrableException(DiagnosticCodes.DownloadFailed, $"ADD: {current} did not answer in time.", inner: e);
            }
            int status = (int)response.StatusCode;
            if (status is 301 or 302 or 303 or 307 or 308 && response.Headers.Location is { } location)
            {
                response.Dispose();
                var next = location.IsAbsoluteUri ? location : new Uri(current, location);
                if (redirects + 1 > MaxRedirects)
                    throw new LivrableException(DiagnosticCodes.DownloadFailed, $"ADD: {url} redirects more than {MaxRedirects} times.");
                if (next.Scheme is not ("http" or "https") || (current.Scheme == "https" && next.Scheme == "http"))
                    throw new LivrableException(DiagnosticCodes.DownloadFailed, $"ADD: {current} redirects to {next}, which is not followed (scheme {next.Scheme}).");
                // The cloud metadata service, or the build machine's network reached from a public URL: not followed.
                if (await guard.RefusalAsync(url, next, cancellationToken).ConfigureAwait(false) is { } refusal)
                    throw new LivrableException(DiagnosticCodes.RedirectRefused,
                        $"ADD: {current} redirects to {next.GetLeftPart(UriPartial.Authority)}, {refusal}; refusing to follow.");
                current = next;
                continue;
            }
            if (response.StatusCode != HttpStatusCode.OK && !response.IsSuccessStatusCode)
            {
                response.Dispose();
                throw new LivrableException(DiagnosticCodes.DownloadFailed, $"ADD: GET {current} answered {status} {response.ReasonPhrase}.");
            }
            return response;
        }
    }
}
