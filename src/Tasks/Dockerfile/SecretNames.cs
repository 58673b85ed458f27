using System.Text.RegularExpressions;
using Livrable.Go;

namespace Livrable.Dockerfile;

/// <summary>
/// BuildKit's build check <c>SecretsUsedInArgOrEnv</c> (frontend/dockerfile/dockerfile2llb, <c>getSecretsRegex</c>;
/// https://docs.docker.com/reference/build-checks/secrets-used-in-arg-or-env/): a name looks like a secret when one of
/// its <c>_</c>-separated words is one of BuildKit's secret words, and none is one of its allowed words
/// (<c>public</c>, <c>file</c>, <c>version</c>). Case does not matter. So <c>API_KEY</c>, <c>DATABASE_PASSWORD</c>,
/// <c>GITHUB_TOKEN</c>, <c>secret_MESSAGE</c>, <c>SSH_KEY_DATA</c> and <c>AUTH</c> warn; <c>PUBLIC_KEY</c>,
/// <c>TOKEN_FILE</c>, <c>KEYRING</c>, <c>AUTHOR</c> do not.
/// </summary>
internal static partial class SecretNames
{
    /// <summary>The build check's name, for <c># check=skip=</c>.</summary>
    public const string Rule = "SecretsUsedInArgOrEnv";

    [GeneratedRegex(@"(?:_|^)(?:apikey|auth|credential|credentials|key|password|pword|passwd|secret|token)(?:_|\z)",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex Secret();

    [GeneratedRegex(@"(?:_|^)(?:public|file|version)(?:_|\z)", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex Allowed();

    /// <summary>Whether an ARG or ENV named <paramref name="name"/> looks like it holds a secret.</summary>
    public static bool LookLikeSecret(string name) => Secret().IsMatch(name) && !Allowed().IsMatch(name);

    /// <summary>BuildKit's message, with where a secret should go instead.</summary>
    public static string Message(string keyword, string name)
        => $"Do not use ARG or ENV instructions for sensitive data ({keyword} {GoFormat.Quote(name)}): the value stays in the image's " +
           "history or config and in the build log; pass a secret with RUN --mount=type=secret (ContainerSecret)";
}
