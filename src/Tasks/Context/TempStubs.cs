// TEMPORARY: stubs of the df-context contracts (docs/dockerfile-frontend.md) so that df-build compiles before that
// branch lands. Drop this file on merge.
using Livrable.Diagnostics;

namespace Livrable.Context;

public sealed class DockerIgnore
{
    public static readonly DockerIgnore Empty = new();

    private DockerIgnore() { }

    public static DockerIgnore Parse(string text) => throw new NotImplementedException();

    public IReadOnlyList<string> Patterns => throw new NotImplementedException();

    public bool IsExcluded(string relativePath) => throw new NotImplementedException();
}

public enum ContextEntryType { File, Directory, Symlink }

public sealed record ContextEntry(string RelativePath, string FullPath, ContextEntryType Type, int Mode, long Size, string? LinkTarget);

public sealed class BuildContext
{
    private BuildContext() { }

    public static BuildContext Open(string root, string? dockerfilePath) => throw new NotImplementedException();

    public string Root => throw new NotImplementedException();

    public DockerIgnore Ignore => throw new NotImplementedException();

    public IReadOnlyList<ContextEntry> Resolve(string source, SourceSpan span) => throw new NotImplementedException();

    public IReadOnlyList<ContextEntry> Enumerate(ContextEntry directory, IReadOnlyList<string> excludes) => throw new NotImplementedException();
}
