using System.Diagnostics;
using System.Text.Json;
using Livrable.Diagnostics;

namespace Livrable.Registry.Credentials;

/// <summary>
/// Runs a Docker credential helper, <c>docker-credential-&lt;name&gt; get</c>
/// (https://github.com/docker/docker-credential-helpers#development): the server URL on stdin,
/// <c>{"ServerURL":..,"Username":..,"Secret":..}</c> on stdout. A user name of <c>&lt;token&gt;</c> means the secret is
/// an identity token. The helper's output is never logged: it holds the secret.
/// </summary>
public static class CredentialHelper
{
    /// <summary>What helpers print when they hold nothing for the server; not an error.</summary>
    private const string NotFoundMessage = "credentials not found";

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Asks helper <paramref name="helper"/> (found on <paramref name="searchPath"/>, a PATH value) for
    /// <paramref name="serverUrl"/>. Returns null when the helper has no credentials for it.
    /// </summary>
    /// <exception cref="LivrableException">LIV3007 when the helper is missing, fails, times out or prints garbage.</exception>
    public static async Task<RegistryCredential?> GetAsync(string helper, string serverUrl, string? searchPath, CancellationToken cancellationToken)
    {
        string program = "docker-credential-" + helper;
        string path = Find(program, searchPath)
            ?? throw Fail($"The credential helper '{program}' (named in the Docker config) is not on PATH. Install it, or remove it from ~/.docker/config.json.");

        var start = new ProcessStartInfo(path, "get")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (searchPath is not null) start.Environment["PATH"] = searchPath;
        using var process = new Process { StartInfo = start };
        try
        {
            process.Start();
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or IOException)
        {
            throw Fail($"The credential helper '{path}' could not be started: {e.Message}");
        }
        await process.StandardInput.WriteAsync(serverUrl).ConfigureAwait(false);
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            timeout.CancelAfter(Timeout);
            try
            {
                await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
                cancellationToken.ThrowIfCancellationRequested();
                throw Fail($"The credential helper '{program}' did not answer within {Timeout.TotalSeconds:0} seconds (is it waiting for a password prompt?).");
            }
        }
        string output = await stdout.ConfigureAwait(false);
        string error = await stderr.ConfigureAwait(false);
        if (process.ExitCode != 0)
        {
            if (output.Contains(NotFoundMessage, StringComparison.OrdinalIgnoreCase) || error.Contains(NotFoundMessage, StringComparison.OrdinalIgnoreCase))
                return null;
            // stderr is shown because helpers print their reason there; they do not print secrets on failure.
            throw Fail($"The credential helper '{program}' failed (exit code {process.ExitCode}) for {serverUrl}: {FirstLine(error)}");
        }
        return ParseOutput(output, program);
    }

    /// <summary>Reads a helper's JSON answer; <c>Username</c> <c>&lt;token&gt;</c> marks an identity token.</summary>
    internal static RegistryCredential? ParseOutput(string output, string program)
    {
        string? user, secret;
        try
        {
            using var doc = JsonDocument.Parse(output);
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new JsonException("not an object");
            user = doc.RootElement.TryGetProperty("Username", out var u) && u.ValueKind == JsonValueKind.String ? u.GetString() : null;
            secret = doc.RootElement.TryGetProperty("Secret", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString() : null;
        }
        catch (JsonException)
        {
            throw Fail($"The credential helper '{program}' printed something that is not its JSON answer.");
        }
        if (string.IsNullOrEmpty(secret)) return null;
        string source = $"credential helper '{program}'";
        return user == "<token>"
            ? RegistryCredential.FromIdentityToken(secret) with { Source = source }
            : RegistryCredential.FromPassword(user ?? "", secret) with { Source = source };
    }

    /// <summary>The full path of <paramref name="program"/> in the folders of <paramref name="searchPath"/>.</summary>
    internal static string? Find(string program, string? searchPath)
    {
        foreach (var dir in (searchPath ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            foreach (var name in OperatingSystem.IsWindows() ? new[] { program + ".exe", program + ".cmd" } : [program])
            {
                string candidate = Path.Combine(dir, name);
                if (File.Exists(candidate)) return candidate;
            }
        }
        return null;
    }

    private static string FirstLine(string s)
    {
        string t = s.Trim();
        int nl = t.IndexOf('\n');
        t = nl >= 0 ? t[..nl] : t;
        return t.Length == 0 ? "(no message)" : t.Length > 300 ? t[..300] : t;
    }

    private static LivrableException Fail(string message) => new(DiagnosticCodes.CredentialHelper, message);
}
