using System.Text;
using Livrable.Diagnostics;
using Livrable.Registry;
using Livrable.Registry.Credentials;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Registry;

/// <summary>Where credentials come from: environment variables, the Docker config and credential helpers.</summary>
public sealed class CredentialResolverTests : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly Dictionary<string, string?> _env = new();

    public CredentialResolverTests()
    {
        Directory.CreateDirectory(_temp["docker"]);
        Directory.CreateDirectory(_temp["bin"]);
        _env["DOCKER_CONFIG"] = _temp["docker"];
        _env["PATH"] = _temp["bin"] + Path.PathSeparator + "/usr/bin:/bin";
    }

    public void Dispose() => _temp.Dispose();

    private CredentialResolver Resolver() => new(name => _env.TryGetValue(name, out var v) ? v : null);

    private void Config(string json) => File.WriteAllText(_temp["docker", "config.json"], json);

    private static string Base64(string s) => Convert.ToBase64String(Encoding.UTF8.GetBytes(s));

    /// <summary>A <c>docker-credential-NAME</c> script: prints <paramref name="body"/> (shell) after reading stdin into $url.</summary>
    private void Helper(string name, string body)
    {
        string path = _temp["bin", "docker-credential-" + name];
        File.WriteAllText(path, "#!/bin/sh\n[ \"$1\" = get ] || exit 3\nread -r url\n" + body + "\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    private Task<RegistryCredential?> Get(string registry) => Resolver().GetCredentialAsync(RegistryEndpoint.Resolve(registry), CancellationToken.None);

    [Fact]
    public async Task Auths_base64_is_user_and_password()
    {
        Config($$$$"""{"auths":{"ghcr.io":{"auth":"{{{{Base64("octo:pa:ss")}}}}"},"https://quay.io":{"username":"q","password":"p"}}}""");
        var c = await Get("ghcr.io");
        Assert.Equal(("octo", "pa:ss"), (c!.Username, c.Password));
        c = await Get("quay.io");
        Assert.Equal(("q", "p"), (c!.Username, c.Password));
        Assert.Null(await Get("example.com"));
        Assert.DoesNotContain("pa:ss", c.ToString());
    }

    [Fact]
    public async Task Docker_hub_key_is_the_historical_index_url()
    {
        Config($$$$"""{"auths":{"https://index.docker.io/v1/":{"auth":"{{{{Base64("hubuser:hubpass")}}}}"}}}""");
        foreach (var name in new[] { "docker.io", "index.docker.io", "registry-1.docker.io" })
            Assert.Equal("hubuser", (await Get(name))!.Username);
    }

    [Fact]
    public async Task Credential_helper_gets_the_server_url_on_stdin()
    {
        // The helper answers with the URL it was given as user name, so the test sees what went on stdin.
        Helper("test", "printf '{\"ServerURL\":\"%s\",\"Username\":\"%s\",\"Secret\":\"helper-secret\"}' \"$url\" \"$url\"");
        Config("""{"credHelpers":{"registry.example.com":"test","https://index.docker.io/v1/":"test"},"auths":{"registry.example.com":{"auth":"bm90OnVzZWQ="}}}""");
        var c = await Get("registry.example.com");
        Assert.Equal(("registry.example.com", "helper-secret"), (c!.Username, c.Password));
        Assert.Contains("docker-credential-test", c.Source);
        c = await Get("docker.io");
        Assert.Equal("https://index.docker.io/v1/", c!.Username);
    }

    [Fact]
    public async Task Helper_token_user_is_an_identity_token()
    {
        Helper("tok", "echo '{\"Username\":\"<token>\",\"Secret\":\"refresh-me\"}'");
        Config("""{"credHelpers":{"myacr.azurecr.io":"tok"}}""");
        var c = await Get("myacr.azurecr.io");
        Assert.Equal("refresh-me", c!.IdentityToken);
        Assert.False(c.HasPassword);
    }

    [Fact]
    public async Task Creds_store_that_has_nothing_falls_back_to_auths()
    {
        Helper("store", "echo 'credentials not found in native keychain'; exit 1");
        Config($$$$"""{"credsStore":"store","auths":{"ghcr.io":{"auth":"{{{{Base64("a:b")}}}}"}}}""");
        Assert.Equal("a", (await Get("ghcr.io"))!.Username);
        Assert.Null(await Get("quay.io"));
    }

    [Fact]
    public async Task Failing_or_missing_helper_is_LIV3007()
    {
        Helper("broken", "echo 'the keyring is locked' >&2; exit 1");
        Config("""{"credHelpers":{"a.example.com":"broken","b.example.com":"absent"}}""");
        var e = await Assert.ThrowsAsync<LivrableException>(() => Get("a.example.com"));
        Assert.Equal(DiagnosticCodes.CredentialHelper, e.Code);
        Assert.Contains("keyring is locked", e.Message);
        e = await Assert.ThrowsAsync<LivrableException>(() => Get("b.example.com"));
        Assert.Equal(DiagnosticCodes.CredentialHelper, e.Code);
        Assert.Contains("docker-credential-absent", e.Message);
    }

    [Fact]
    public async Task Environment_variables_come_first_livrable_then_dotnet_sdk()
    {
        Config($$$$"""{"auths":{"ghcr.io":{"auth":"{{{{Base64("file:user")}}}}"}}}""");
        _env["DOTNET_CONTAINER_REGISTRY_UNAME"] = "sdk";
        _env["DOTNET_CONTAINER_REGISTRY_PWORD"] = "sdkpass";
        Assert.Equal("sdk", (await Get("ghcr.io"))!.Username);
        _env["LIVRABLE_REGISTRY_USER"] = "liv";
        _env["LIVRABLE_REGISTRY_PASSWORD"] = "livpass";
        var c = await Get("ghcr.io");
        Assert.Equal(("liv", "livpass"), (c!.Username, c.Password));
        Assert.DoesNotContain("livpass", c.ToString());
    }

    [Fact]
    public async Task No_config_file_is_anonymous_and_bad_json_is_LIV3007()
    {
        Assert.Null(await Get("ghcr.io"));
        Config("{not json");
        var e = await Assert.ThrowsAsync<LivrableException>(() => Get("ghcr.io"));
        Assert.Equal(DiagnosticCodes.CredentialHelper, e.Code);
    }

    [Fact]
    public async Task The_sdks_older_variables_come_after_its_newer_ones()
    {
        _env["SDK_CONTAINER_REGISTRY_UNAME"] = "old";
        _env["SDK_CONTAINER_REGISTRY_PWORD"] = "oldpass";
        Assert.Equal(("old", "oldpass"), ((await Get("ghcr.io"))!.Username, (await Get("ghcr.io"))!.Password));
        _env["DOTNET_CONTAINER_REGISTRY_UNAME"] = "sdk";
        _env["DOTNET_CONTAINER_REGISTRY_PWORD"] = "sdkpass";
        Assert.Equal("sdk", (await Get("ghcr.io"))!.Username);
    }

    /// <summary>
    /// podman's auth files, where the Docker config has nothing for the registry: REGISTRY_AUTH_FILE alone when set,
    /// else $XDG_RUNTIME_DIR/containers/auth.json, then ~/.config/containers/auth.json.
    /// </summary>
    [Fact]
    public async Task Podman_auth_files_after_the_docker_config()
    {
        Config($$$$"""{"auths":{"ghcr.io":{"auth":"{{{{Base64("docker:user")}}}}"}}}""");
        string home = Directory.CreateDirectory(_temp["home"]).FullName;
        string runtime = Directory.CreateDirectory(_temp["run"]).FullName;
        _env["HOME"] = home;
        Directory.CreateDirectory(Path.Combine(home, ".config", "containers"));
        File.WriteAllText(Path.Combine(home, ".config", "containers", "auth.json"),
            $$$$"""{"auths":{"quay.io":{"auth":"{{{{Base64("home:pass")}}}}"},"ghcr.io":{"auth":"{{{{Base64("podman:user")}}}}"}}}""");
        Assert.Equal("docker", (await Get("ghcr.io"))!.Username);
        Assert.Equal("home", (await Get("quay.io"))!.Username);

        _env["XDG_RUNTIME_DIR"] = runtime;
        Directory.CreateDirectory(Path.Combine(runtime, "containers"));
        File.WriteAllText(Path.Combine(runtime, "containers", "auth.json"), $$$$"""{"auths":{"quay.io":{"auth":"{{{{Base64("runtime:pass")}}}}"}}}""");
        Assert.Equal("runtime", (await Get("quay.io"))!.Username);

        string authFile = _temp["REGISTRY_AUTH_FILE.json"];
        File.WriteAllText(authFile, $$$$"""{"auths":{"registry.example":{"auth":"{{{{Base64("file:pass")}}}}"}}}""");
        _env["REGISTRY_AUTH_FILE"] = authFile;
        Assert.Equal("file", (await Get("registry.example"))!.Username);
        Assert.Null(await Get("quay.io"));
    }
}
