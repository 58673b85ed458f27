namespace Livrable.Tests.Infrastructure;

/// <summary>The Livrable repository holding the tests' source: the first folder above the test output with Packaging.sln.</summary>
public static class TestRepository
{
    private static readonly Lazy<string> RootFolder = new(Find);

    /// <summary>The repository's full path; throws when the tests do not run from inside a Livrable repository.</summary>
    public static string Root => RootFolder.Value;

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Packaging.sln"))) return dir.FullName;
        throw new InvalidOperationException("Packaging.sln not found above " + AppContext.BaseDirectory + ": the tests do not run from inside the Livrable repository.");
    }
}
