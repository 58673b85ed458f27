using Livrable.Diagnostics;
using Livrable.SupplyChain.Verification;
using Microsoft.Build.Framework;

namespace Livrable.MSBuild;

/// <summary>
/// The <c>VerifyContainerImage</c> target's task: checks a pushed image's cosign signature against a public key and
/// that its attached SBOM and provenance describe it. Thin: one <see cref="VerificationRequest"/>, one call to
/// <see cref="ImageVerifier.VerifyAsync"/>, errors as diagnostics. The rebuild check is the target's (a second build).
/// </summary>
public sealed class VerifyContainerImage : Microsoft.Build.Utilities.Task, ICancelableTask
{
    private readonly CancellationTokenSource _cancel = new();

    /// <summary>The registry (<c>host[:port]</c>).</summary>
    [Required] public string Registry { get; set; } = "";

    /// <summary>The repository.</summary>
    [Required] public string Repository { get; set; } = "";

    /// <summary>A tag or digest.</summary>
    [Required] public string Reference { get; set; } = "";

    /// <summary>ContainerVerifyKey: the PEM public key; empty checks the attestations only.</summary>
    public string? PublicKey { get; set; }

    /// <summary>The state folder (ContainerStateDirectory).</summary>
    [Required] public string StateDirectory { get; set; } = "";

    /// <summary>Registries reachable over plain http.</summary>
    public string[]? InsecureRegistries { get; set; }

    /// <summary>The digest the reference names, verified.</summary>
    [Output] public string? ImageDigest { get; set; }

    /// <inheritdoc/>
    public void Cancel() => _cancel.Cancel();

    /// <inheritdoc/>
    public override bool Execute()
    {
        try
        {
            var request = new VerificationRequest
            {
                Registry = Registry.Trim(),
                Repository = Repository.Trim(),
                Reference = Reference.Trim(),
                PublicKeyPath = string.IsNullOrWhiteSpace(PublicKey) ? null : Path.GetFullPath(PublicKey.Trim()),
                StateDirectory = StateDirectory,
                InsecureRegistries = (InsecureRegistries ?? []).Select(r => r.Trim()).Where(r => r.Length > 0).ToList(),
            };
            ImageDigest = ImageVerifier.VerifyAsync(request, new MSBuildLogger(Log), _cancel.Token).GetAwaiter().GetResult().Digest.ToString();
        }
        catch (Exception e)
        {
            MSBuildLogger.Error(Log, e);
        }
        return !Log.HasLoggedErrors;
    }
}
