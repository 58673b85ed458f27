namespace Livrable.Registry.Credentials;

/// <summary>
/// Finds the credentials for a registry. The client asks only when a registry challenges it, and once per registry.
/// </summary>
public interface ICredentialProvider
{
    /// <summary>
    /// The credentials for <paramref name="endpoint"/>, or null to go anonymous.
    /// </summary>
    /// <exception cref="Diagnostics.LivrableException">LIV3007 when a credential helper fails.</exception>
    Task<RegistryCredential?> GetCredentialAsync(RegistryEndpoint endpoint, CancellationToken cancellationToken);
}

/// <summary>Gives no credentials: every registry is asked anonymously.</summary>
public sealed class AnonymousCredentialProvider : ICredentialProvider
{
    public static readonly AnonymousCredentialProvider Instance = new();

    public Task<RegistryCredential?> GetCredentialAsync(RegistryEndpoint endpoint, CancellationToken cancellationToken)
        => Task.FromResult<RegistryCredential?>(null);
}
