namespace Livrable.Tests.Infrastructure;

/// <summary>A temporary folder for one test: created at once, deleted with everything in it at dispose.</summary>
public sealed class TempDirectory : IDisposable
{
    /// <summary>The folder's full path.</summary>
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "livrable-test-" + Guid.NewGuid().ToString("N"));

    public TempDirectory() => Directory.CreateDirectory(Path);

    /// <summary>A path inside the folder (<c>temp["in", "a"]</c> is <c>PATH/in/a</c>); nothing is created.</summary>
    public string this[params string[] parts] => System.IO.Path.Combine([Path, .. parts]);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
