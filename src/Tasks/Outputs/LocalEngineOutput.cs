using System.Diagnostics;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Layers;

namespace Livrable.Outputs;

/// <summary>
/// Loads the image into a local engine: writes the image tarball (<see cref="ArchiveOutput"/>'s format) to a
/// temporary file and runs <c>docker load -i FILE</c> or <c>podman load -i FILE</c>. The CLI is run as the user would
/// run it, so <c>DOCKER_HOST</c>, contexts and podman's connections apply unchanged.
/// </summary>
public sealed class LocalEngineOutput : IImageOutput
{
    private readonly string _engine;
    private readonly DateTimeOffset _modificationTime;
    private readonly IReadOnlyDictionary<string, string>? _environment;

    /// <summary>
    /// Loads into <paramref name="engine"/> (<c>docker</c> or <c>podman</c>, LIV2003 otherwise).
    /// <paramref name="environment"/> adds variables to the CLI's environment (a test's private <c>DOCKER_HOST</c>).
    /// </summary>
    public LocalEngineOutput(string engine, DateTimeOffset? modificationTime = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        if (engine is not ("docker" or "podman"))
            throw new LivrableException(DiagnosticCodes.InvalidPropertyValue, $"'{engine}' is not a local engine Livrable can load into: use docker or podman.");
        _engine = engine;
        _modificationTime = modificationTime ?? Reproducibility.DefaultEpoch;
        _environment = environment;
    }

    /// <summary>
    /// Loads the image; returns <c>engine: repo:tag, ...</c>. LIV6003 when the engine is not on PATH, LIV6002 with
    /// the engine's own error when the load fails.
    /// </summary>
    public Task<string> WriteAsync(IImage image, string repository, IReadOnlyList<string> tags, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(image);
        return LoadAsync(TarballContent.Of(image), repository, tags, cancellationToken);
    }

    /// <summary>
    /// Loads the multi-platform tarball (<see cref="ArchiveOutput.WriteIndexAsync"/>'s): an engine that reads
    /// <c>manifest.json</c> gets the image for this machine's platform under the tags; one that reads OCI layouts
    /// (containerd's image store, podman) the whole index. Errors as <see cref="WriteAsync"/>.
    /// </summary>
    public Task<string> WriteIndexAsync(IImageIndex index, string repository, IReadOnlyList<string> tags, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(index);
        return LoadAsync(TarballContent.ForIndex(index), repository, tags, cancellationToken);
    }

    private async Task<string> LoadAsync(TarballContent image, string repository, IReadOnlyList<string> tags, CancellationToken cancellationToken)
    {
        var names = ImageTarball.Names(repository, tags);
        string program = FindOnPath(_engine, SearchPath) ?? throw new LivrableException(DiagnosticCodes.LocalEngineNotFound,
            $"'{_engine}' was not found on PATH: install docker or podman, or set ContainerArchiveOutputPath to write an image tarball instead.");
        string temp = Path.Combine(Path.GetTempPath(), $"livrable-load-{Guid.NewGuid():N}.tar");
        try
        {
            try
            {
                await ImageTarball.WriteFileAsync(temp, image, names, _modificationTime, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw ImageTarball.WriteFailed(temp, e);
            }
            var (exitCode, stderr) = await RunAsync(program, ["load", "-i", temp], cancellationToken).ConfigureAwait(false);
            if (exitCode != 0)
                throw new LivrableException(DiagnosticCodes.LocalLoadFailed,
                    $"'{_engine} load' failed with exit code {exitCode}: {(stderr.Length == 0 ? "(no error output)" : stderr)}");
            return $"{_engine}: {string.Join(", ", names.Select(n => n.RepoTag))}";
        }
        finally
        {
            ImageTarball.TryDelete(temp);
        }
    }

    private async Task<(int ExitCode, string Stderr)> RunAsync(string program, IReadOnlyList<string> arguments, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (string a in arguments) start.ArgumentList.Add(a);
        if (_environment is not null)
            foreach (var (k, v) in _environment) start.Environment[k] = v;
        using var process = new Process { StartInfo = start };
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new LivrableException(DiagnosticCodes.LocalEngineNotFound, $"Could not start '{program}': {e.Message}", inner: e);
        }
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        try
        {
            await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            throw;
        }
        await stdout.ConfigureAwait(false);
        return (process.ExitCode, (await stderr.ConfigureAwait(false)).Trim());
    }

    /// <summary>The folders to look for the engine in, PATH's syntax; null for PATH itself. Tests set it.</summary>
    internal string? SearchPath { get; init; }

    /// <summary>The full path of <paramref name="program"/> in a folder of <paramref name="searchPath"/> (PATH when null), or null.</summary>
    internal static string? FindOnPath(string program, string? searchPath = null)
    {
        string[] extensions = OperatingSystem.IsWindows() ? [".exe", ".cmd", ""] : [""];
        foreach (string dir in (searchPath ?? Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
            foreach (string ext in extensions)
            {
                string candidate = Path.Combine(dir, program + ext);
                if (File.Exists(candidate)) return candidate;
            }
        return null;
    }
}
