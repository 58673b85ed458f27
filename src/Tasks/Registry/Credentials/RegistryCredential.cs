namespace Livrable.Registry.Credentials;

/// <summary>
/// What proves who we are to a registry: a user name and password (or personal access token), or an identity token,
/// the OAuth2 refresh token that <c>docker login</c> stores for some registries (Azure, Docker Hub with SSO).
/// <see cref="ToString"/> never shows the secret, so a credential can be logged by mistake without harm.
/// </summary>
public sealed record RegistryCredential
{
    /// <summary>A user name and password.</summary>
    public static RegistryCredential FromPassword(string username, string password) => new() { Username = username, Password = password };

    /// <summary>An identity (refresh) token.</summary>
    public static RegistryCredential FromIdentityToken(string identityToken, string? username = null)
        => new() { IdentityToken = identityToken, Username = username };

    /// <summary>The user name; null with an identity token from a credential helper.</summary>
    public string? Username { get; init; }

    /// <summary>The password or access token, for Basic auth and for the token request.</summary>
    public string? Password { get; init; }

    /// <summary>An OAuth2 refresh token, exchanged at the token realm by a POST (grant_type=refresh_token).</summary>
    public string? IdentityToken { get; init; }

    /// <summary>Where the credential came from (an environment variable, a helper, config.json), for messages.</summary>
    public string Source { get; init; } = "";

    /// <summary>Whether there is a user name and password for Basic auth.</summary>
    public bool HasPassword => Username is not null && Password is not null;

    public override string ToString() => $"{(IdentityToken is not null ? "identity token" : $"user '{Username}'")} from {Source}";
}
