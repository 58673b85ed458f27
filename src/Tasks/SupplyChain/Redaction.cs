using System.Text.RegularExpressions;

namespace Livrable.SupplyChain;

/// <summary>
/// What never goes into an attestation: the value of a build argument whose name looks like a secret's (as BuildKit's
/// provenance leaves out such arguments' values, and as <c>docker build</c> warns of them: SecretsUsedInArgOrEnv), the
/// user and password of a URL, and any value a <c>ContainerSecret</c> holds, wherever it appears.
/// </summary>
public sealed partial class Redaction
{
    /// <summary>What a redacted value is replaced with.</summary>
    public const string Redacted = "[REDACTED]";

    private readonly IReadOnlyList<string> _secrets;

    /// <summary>A redaction that also removes each of <paramref name="secretValues"/> (values shorter than 4 characters are too common to find).</summary>
    public Redaction(IEnumerable<string> secretValues)
    {
        _secrets = secretValues.Where(s => s.Length >= 4).Distinct(StringComparer.Ordinal).OrderByDescending(s => s.Length).ToList();
    }

    /// <summary>
    /// Whether a name looks like a secret's: it holds one of the words BuildKit's SecretsUsedInArgOrEnv check looks
    /// for (key, secret, token, password, passwd, pass, auth, credential, cert, private), case-insensitive.
    /// </summary>
    public static bool IsSecretName(string name) => SecretName().IsMatch(name);

    /// <summary>A build argument's value as an attestation may show it.</summary>
    public string Argument(string name, string value) => IsSecretName(name) ? Redacted : Text(value);

    /// <summary><paramref name="value"/> with URL credentials and known secret values replaced.</summary>
    public string Text(string value)
    {
        string result = UrlCredentials().Replace(value, m => m.Groups["scheme"].Value + Redacted + "@");
        foreach (string secret in _secrets) result = result.Replace(secret, Redacted, StringComparison.Ordinal);
        return result;
    }

    [GeneratedRegex("(?i)(key|secret|token|passw(or)?d|pass|auth|credential|cert|private)")]
    private static partial Regex SecretName();

    // scheme://user[:password]@host: the userinfo goes, whatever it holds.
    [GeneratedRegex(@"(?<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+@")]
    private static partial Regex UrlCredentials();
}
