using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Xunit;

namespace Livrable.Tests.Infrastructure;

/// <summary>
/// A real CNCF Distribution registry (<c>docker-registry</c> from Debian) on 127.0.0.1 and a free port, storing in a
/// temporary folder, for the lifetime of a test collection. A missing <c>docker-registry</c> fails the tests (through
/// <see cref="Tools.Require"/>) with the command that installs it; nothing is skipped. <see cref="AuthRegistryFixture"/> is the same with htpasswd Basic auth.
/// </summary>
public class RegistryFixture : IAsyncLifetime
{
    private Process? _process;
    private readonly StringBuilder _log = new();

    /// <summary>The temporary folder holding the config, the storage and (with auth) the htpasswd file.</summary>
    public string Root { get; } = Path.Combine(Path.GetTempPath(), "livrable-registry-" + Guid.NewGuid().ToString("N")[..12]);

    /// <summary>The registry as a reference names it: <c>127.0.0.1:PORT</c>.</summary>
    public string Registry { get; private set; } = "";

    public int Port { get; private set; }

    /// <summary>Where the registry keeps its files.</summary>
    public string StorageDirectory => Path.Combine(Root, "storage");

    /// <summary>Basic auth user and password; null for the open registry.</summary>
    public virtual (string User, string Password)? Credentials => null;

    /// <summary>The file holding a blob's bytes in the registry's filesystem storage (to corrupt it in a test).</summary>
    public string BlobDataPath(string hex) => Path.Combine(StorageDirectory, "docker", "registry", "v2", "blobs", "sha256", hex[..2], hex, "data");

    public async Task InitializeAsync()
    {
        string program = Tools.Require("docker-registry");
        Directory.CreateDirectory(StorageDirectory);
        Port = FreePort();
        Registry = $"127.0.0.1:{Port}";
        string auth = await AuthConfigAsync();
        string config = Path.Combine(Root, "config.yml");
        await File.WriteAllTextAsync(config, $"""
            version: 0.1
            log:
              level: warn
              accesslog:
                disabled: true
            storage:
              filesystem:
                rootdirectory: {StorageDirectory}
              delete:
                enabled: true
            http:
              addr: 127.0.0.1:{Port}
              secret: livrable-test-secret
            {auth}
            """);

        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("serve");
        start.ArgumentList.Add(config);
        _process = Process.Start(start)!;
        _process.OutputDataReceived += (_, e) => { lock (_log) _log.AppendLine(e.Data); };
        _process.ErrorDataReceived += (_, e) => { lock (_log) _log.AppendLine(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            if (_process.HasExited)
                throw new InvalidOperationException($"docker-registry exited with {_process.ExitCode}:\n{Log}");
            try
            {
                using var response = await http.GetAsync($"http://{Registry}/v2/");
                if (response.StatusCode is HttpStatusCode.OK or HttpStatusCode.Unauthorized) return;
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }
            if (DateTime.UtcNow > deadline)
                throw new InvalidOperationException($"docker-registry did not answer on {Registry} within 30 s:\n{Log}");
            await Task.Delay(100);
        }
    }

    /// <summary>
    /// The <c>auth:</c> section of the registry's config: htpasswd Basic when there are <see cref="Credentials"/>,
    /// none for the open registry; a subclass may give another (a token service).
    /// </summary>
    protected virtual async Task<string> AuthConfigAsync()
    {
        if (Credentials is not { } c) return "";
        string htpasswd = Path.Combine(Root, "htpasswd");
        var hashed = await Tools.RunCheckedAsync("htpasswd", "-nbB", c.User, c.Password);
        await File.WriteAllTextAsync(htpasswd, hashed.Stdout.Trim() + "\n");
        return $"auth:\n  htpasswd:\n    realm: livrable-test\n    path: {htpasswd}\n";
    }

    /// <summary>What the registry printed, for failure messages.</summary>
    public string Log
    {
        get { lock (_log) return _log.ToString(); }
    }

    public virtual Task DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }
        _process?.Dispose();
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        return Task.CompletedTask;
    }

    /// <summary>A port nobody listens on now: the one the system gives a listener bound to port 0.</summary>
    public static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}

/// <summary>The registry with htpasswd Basic auth: user <c>livrable</c>, password <c>s3cret-pass</c>.</summary>
public sealed class AuthRegistryFixture : RegistryFixture
{
    public override (string User, string Password)? Credentials => ("livrable", "s3cret-pass");
}

/// <summary>The tests that share the two registries.</summary>
[CollectionDefinition(Name)]
public sealed class RegistryCollection : ICollectionFixture<RegistryFixture>, ICollectionFixture<AuthRegistryFixture>
{
    public const string Name = "Registry";
}
