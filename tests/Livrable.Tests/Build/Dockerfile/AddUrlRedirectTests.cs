using System.Net;
using Livrable.Build.Dockerfile;
using Livrable.Diagnostics;
using Livrable.Dockerfile;
using Livrable.Images;
using Livrable.Sources;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Build.Dockerfile;

/// <summary>
/// Issue 10, item 9, through a Dockerfile build: <c>ADD &lt;url&gt;</c> whose server redirects to the cloud metadata
/// address is LIV3011 (the build's HTTP client leaves redirects to the guard in <c>UrlDownload</c>); one redirected
/// to an <see cref="AttackerServer"/> that challenges sends it nothing it could use and fails with a code.
/// </summary>
public sealed class AddUrlRedirectTests : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly HttpListener _listener = new();
    private readonly string _base;

    public AddUrlRedirectTests()
    {
        _base = $"http://127.0.0.1:{RegistryFixture.FreePort()}/";
        _listener.Prefixes.Add(_base);
        _listener.Start();
        _ = Task.Run(ServeAsync);
    }

    public void Dispose()
    {
        _listener.Close();
        _temp.Dispose();
    }

    /// <summary>Answers every request with a 302 to the URL its query names.</summary>
    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try { context = await _listener.GetContextAsync(); }
            catch (Exception) { return; }
            context.Response.StatusCode = 302;
            context.Response.RedirectLocation = Uri.UnescapeDataString(context.Request.Url!.Query.TrimStart('?'));
            context.Response.Close();
        }
    }

    private async Task BuildAsync(string dockerfile)
    {
        string context = _temp["context"];
        Directory.CreateDirectory(context);
        string path = Path.Combine(context, "Dockerfile");
        await File.WriteAllTextAsync(path, dockerfile);
        var document = DockerfileParser.Parse(path, dockerfile, NullLogger.Instance);
        using var session = new DockerfileBuildSession(document, new DockerfileBuildOptions
        {
            TargetPlatform = new Platform("linux", "amd64"),
            BuildArgs = new Dictionary<string, string>(),
            ContextDirectory = context,
            DockerfilePath = path,
            Store = new BlobStore(_temp["state"]),
            OpenImage = name => name == "scratch" ? ScratchImage.Instance : throw new LivrableException(DiagnosticCodes.ManifestNotFound, name),
            Logger = NullLogger.Instance,
            TempDirectory = _temp["tmp", Guid.NewGuid().ToString("N")],
        });
        using var bounded = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await session.BuildAsync(bounded.Token);
    }

    [Fact]
    public async Task ADD_of_a_URL_redirected_to_the_cloud_metadata_address_is_LIV3011()
    {
        string url = _base + "file?" + Uri.EscapeDataString("http://169.254.169.254/latest/meta-data/iam/security-credentials/");

        var e = await Assert.ThrowsAsync<LivrableException>(() => BuildAsync($"FROM scratch\nADD {url} /x\n"));

        Assert.Equal(DiagnosticCodes.RedirectRefused, e.Code);
        Assert.Contains("169.254.169.254", e.Message);
    }

    [Fact]
    public async Task ADD_of_a_URL_redirected_to_a_host_that_challenges_sends_no_credentials_and_fails_with_a_code()
    {
        using var attacker = new AttackerServer(AttackerServer.Mode.Basic);
        string url = _base + "file?" + Uri.EscapeDataString(attacker.Url("/steal"));

        var e = await Assert.ThrowsAsync<LivrableException>(() => BuildAsync($"FROM scratch\nADD {url} /x\n"));

        Assert.Equal(DiagnosticCodes.DownloadFailed, e.Code);
        Assert.NotEmpty(attacker.Received);
        attacker.AssertGotNoSecret();
    }
}
