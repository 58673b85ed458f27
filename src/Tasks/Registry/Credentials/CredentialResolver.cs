using Livrable.Diagnostics;

namespace Livrable.Registry.Credentials;

/// <summary>
/// Finds credentials the way users already give them, first match wins:
/// <list type="number">
/// <item><c>LIVRABLE_REGISTRY_USER</c>/<c>LIVRABLE_REGISTRY_PASSWORD</c>, or the .NET SDK's
/// <c>DOTNET_CONTAINER_REGISTRY_UNAME</c>/<c>DOTNET_CONTAINER_REGISTRY_PWORD</c>, or its older
/// <c>SDK_CONTAINER_REGISTRY_UNAME</c>/<c>SDK_CONTAINER_REGISTRY_PWORD</c> (for CI; they apply to every registry
/// that asks, as in the SDK);</item>
/// <item><c>$DOCKER_CONFIG/config.json</c>, else <c>~/.docker/config.json</c>: <c>credHelpers[registry]</c>, then
/// <c>credsStore</c>, then <c>auths[registry]</c>;</item>
/// <item>podman's (containers-auth.json(5)), same format, where the Docker config has nothing for the registry:
/// <c>REGISTRY_AUTH_FILE</c>, else <c>$XDG_RUNTIME_DIR/containers/auth.json</c>, then
/// <c>~/.config/containers/auth.json</c>.</item>
/// </list>
/// The environment is read through a function, so that tests give their own without touching the process.
/// </summary>
public sealed class CredentialResolver : ICredentialProvider
{
    private readonly Func<string, string?> _environment;
    private readonly ILogger _logger;

    /// <summary>
    /// A resolver reading <paramref name="environment"/> (the process environment when null) for the variables above,
    /// <c>DOCKER_CONFIG</c>, <c>HOME</c> and <c>PATH</c> (where helpers are looked for).
    /// </summary>
    public CredentialResolver(Func<string, string?>? environment = null, ILogger? logger = null)
    {
        _environment = environment ?? Environment.GetEnvironmentVariable;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <inheritdoc />
    public async Task<RegistryCredential?> GetCredentialAsync(RegistryEndpoint endpoint, CancellationToken cancellationToken)
    {
        if (FromEnvironment() is { } env) return env;
        foreach (string configPath in ConfigPaths())
        {
            var config = DockerConfig.Load(configPath);
            if (config is null) continue;
            if (await FromConfigAsync(config, endpoint, cancellationToken).ConfigureAwait(false) is { } found) return found;
        }
        return null;
    }

    /// <summary>The Docker config, then podman's auth files, in the order podman reads them; only those that can exist.</summary>
    internal IEnumerable<string> ConfigPaths()
    {
        if (ConfigPath() is { } docker) yield return docker;
        if (_environment("REGISTRY_AUTH_FILE") is { Length: > 0 } authFile)
        {
            yield return authFile;
            yield break;
        }
        if (_environment("XDG_RUNTIME_DIR") is { Length: > 0 } runtime) yield return Path.Combine(runtime, "containers", "auth.json");
        string? home = _environment("HOME") ?? _environment("USERPROFILE");
        if (!string.IsNullOrEmpty(home)) yield return Path.Combine(home, ".config", "containers", "auth.json");
    }

    /// <summary>The credential one config file gives for the endpoint's registry: its helper, its store, its auths entry.</summary>
    private async Task<RegistryCredential?> FromConfigAsync(DockerConfig config, RegistryEndpoint endpoint, CancellationToken cancellationToken)
    {
        string registry = endpoint.Registry;
        string path = _environment("PATH") ?? "";
        if (config.HelperFor(registry) is { } h)
        {
            _logger.Detail($"Asking credential helper '{h.Helper}' for {registry}.");
            return await CredentialHelper.GetAsync(h.Helper, ServerUrl(endpoint, h.ServerUrl), path, cancellationToken).ConfigureAwait(false);
        }
        if (config.CredentialsStore is { } store)
        {
            _logger.Detail($"Asking credential store '{store}' for {registry}.");
            var stored = await CredentialHelper.GetAsync(store, ServerUrl(endpoint, null), path, cancellationToken).ConfigureAwait(false);
            if (stored is not null) return stored;
        }
        return config.AuthFor(registry);
    }

    /// <summary>The credential given by environment variables, Livrable's first, then the .NET SDK's.</summary>
    private RegistryCredential? FromEnvironment()
    {
        foreach (var (userVar, passwordVar) in new[] { ("LIVRABLE_REGISTRY_USER", "LIVRABLE_REGISTRY_PASSWORD"), ("DOTNET_CONTAINER_REGISTRY_UNAME", "DOTNET_CONTAINER_REGISTRY_PWORD"), ("SDK_CONTAINER_REGISTRY_UNAME", "SDK_CONTAINER_REGISTRY_PWORD") })
        {
            string? user = _environment(userVar);
            string? password = _environment(passwordVar);
            if (!string.IsNullOrEmpty(user) && !string.IsNullOrEmpty(password))
                return RegistryCredential.FromPassword(user, password) with { Source = $"{userVar}/{passwordVar}" };
        }
        return null;
    }

    /// <summary>The environment variables this resolver reads, all of them: what decides which credentials it finds.</summary>
    internal static readonly string[] Variables =
    [
        "LIVRABLE_REGISTRY_USER", "LIVRABLE_REGISTRY_PASSWORD", "DOTNET_CONTAINER_REGISTRY_UNAME", "DOTNET_CONTAINER_REGISTRY_PWORD",
        "SDK_CONTAINER_REGISTRY_UNAME", "SDK_CONTAINER_REGISTRY_PWORD", "DOCKER_CONFIG", "REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR",
        "HOME", "USERPROFILE", "PATH",
    ];

    /// <summary>
    /// A hash of the values of <see cref="Variables"/> in the process environment: equal when a resolver made now would
    /// read the same variables as one made earlier in the same process (a head start's client,
    /// <c>Build/ImageBuildHeadStart</c>). The process's randomized string hash, not a digest: it is compared within
    /// the process only, never stored or shown, keeps no secret, and costs no cryptography on MSBuild's thread.
    /// </summary>
    internal static int EnvironmentFingerprint()
    {
        var hash = new HashCode();
        foreach (string name in Variables) hash.Add(Environment.GetEnvironmentVariable(name), StringComparer.Ordinal);
        return hash.ToHashCode();
    }

    /// <summary><c>$DOCKER_CONFIG/config.json</c> when set, else <c>~/.docker/config.json</c>.</summary>
    internal string? ConfigPath()
    {
        if (_environment("DOCKER_CONFIG") is { Length: > 0 } dir) return Path.Combine(dir, "config.json");
        string? home = _environment("HOME") ?? _environment("USERPROFILE");
        return string.IsNullOrEmpty(home) ? null : Path.Combine(home, ".docker", "config.json");
    }

    /// <summary>
    /// What to give a helper on stdin: the key the config used, else what <c>docker login</c> would have stored under
    /// (Docker Hub's historical URL, or the bare host).
    /// </summary>
    private static string ServerUrl(RegistryEndpoint endpoint, string? configKey)
        => configKey ?? (endpoint.IsDockerHub ? RegistryEndpoint.DockerHubCredentialKey : endpoint.Registry);
}
