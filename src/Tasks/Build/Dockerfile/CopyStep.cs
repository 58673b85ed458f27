using Livrable.Context;
using Livrable.Diagnostics;
using Livrable.Dockerfile;
using Livrable.Filesystem;
using Livrable.Go;
using Livrable.Layers;

namespace Livrable.Build.Dockerfile;

/// <summary>
/// COPY (https://docs.docker.com/reference/dockerfile/#copy): from the build context, or with <c>--from</c> from an
/// earlier stage, a named context or an image (source paths from that root, owners kept), with <c>--parents</c>
/// keeping each source's folders (a <c>/./</c> in the source marks where they start). A URL is LIV1108.
/// <c>--link</c> gives the same image here: Livrable always writes a COPY as its own layer of explicit entries.
/// </summary>
internal sealed class CopyStep(StepContext step, CopyInstruction copy) : FileStep(step, copy)
{
    private StageState? _source;

    protected override bool ParentsFlag => copy.Parents;

    protected override bool HashesInLayerWrite => copy.From is null;

    protected override void BeforeSources(IReadOnlyList<string> sources)
    {
        foreach (string source in sources)
            if (source.StartsWith("http://", StringComparison.Ordinal) || source.StartsWith("https://", StringComparison.Ordinal))
                throw new LivrableException(DiagnosticCodes.UrlInCopy, $"source can't be a URL for COPY ({source}); ADD downloads URLs", Span);
    }

    protected override async Task<bool> AddSourceKeyAsync(string source, Cache.StepKey key, CancellationToken cancellationToken)
    {
        if (copy.From is null)
        {
            if (!copy.Parents) return AddContextKey(source, key);
            var (root, pattern) = SplitPivot(source);
            return AddContextKey(root.Length == 0 ? pattern : root + "/" + pattern, key);
        }
        // Another stage or an image: its key stands for its whole file system (the chain of its steps' keys).
        _source ??= await Services.CopySourceAsync(copy.From, Step.StageIndex, Span, cancellationToken).ConfigureAwait(false);
        key.Add("from " + copy.From, _source.CacheKey).Add("path", source);
        // In a plan, a stage whose key is known only by running leaves this key unknown too.
        return _source.UnknownAfter is null;
    }

    protected override async Task AddSourceAsync(string source, CancellationToken cancellationToken)
    {
        if (copy.From is null)
        {
            if (copy.Parents) AddContextWithParents(source);
            else await AddContextSourceAsync(source, unpack: false, cancellationToken).ConfigureAwait(false);
            return;
        }
        _source ??= await Services.CopySourceAsync(copy.From, Step.StageIndex, Span, cancellationToken).ConfigureAwait(false);
        await AddStageSourceAsync(_source, source, cancellationToken).ConfigureAwait(false);
    }

    private void AddContextWithParents(string source)
    {
        var (root, pattern) = SplitPivot(source);
        string rootRelative = PathRules.ClampSource(root).TrimStart('/');
        if (rootRelative.Length == 0) rootRelative = ".";
        var context = Services.Context(Span);
        foreach (var match in context.Resolve(root.Length == 0 ? pattern : root + "/" + pattern, Span))
        {
            if (IsExcluded(match.RelativePath)) continue;
            string relative = Relative(rootRelative, match.RelativePath);
            if (match.Type == Context.ContextEntryType.Directory)
            {
                NextCopySource();
                var inodes = new Dictionary<(ulong Device, ulong Inode), HardLinkGroup>();
                if (match.RelativePath != ".") PlaceAt(relative, FromContext(match, "/"), keepOwner: false);
                foreach (var entry in context.Enumerate(match, Excludes))
                    PlaceAt(Relative(rootRelative, entry.RelativePath), ContextSources.WithHardLinks(FromContext(entry, "/"), entry.FullPath, inodes), keepOwner: false);
            }
            else
            {
                PlaceAt(relative, FromContext(match, "/"), keepOwner: false);
            }
        }
    }

    /// <summary>Sources from a stage or image: wildcards per segment (Go's filepath.Match), owners kept.</summary>
    private async Task AddStageSourceAsync(StageState source, string path, CancellationToken cancellationToken)
    {
        var tree = await source.GetTreeAsync(cancellationToken).ConfigureAwait(false);
        var (root, pattern) = copy.Parents ? SplitPivot(path) : ("", path);
        string rootPath = PathRules.ClampSource(root);
        string full = PathRules.ClampSource(root.Length == 0 ? pattern : root + "/" + pattern);
        BuildContext.CheckPattern(full, Span);
        var matches = Glob(tree, full);
        if (matches.Count == 0 && !GoPath.ContainsWildcards(full))
            throw new LivrableException(DiagnosticCodes.SourceNotFound, $"failed to compute cache key: \"{full}\": not found in {copy.From}", Span);
        foreach (string match in matches)
        {
            NextCopySource();
            // A top-level symlink is followed; symlinks below are copied as they are.
            var top = tree.Resolve(match) ?? tree.Get(match);
            if (top is null) continue;
            if (top.Type == TarTypeFlag.Directory)
            {
                var contents = tree.Enumerate(top.Path)
                    .Where(e => !IsExcluded(e.Path.TrimStart('/')))
                    .ToList();
                var materialized = await Materialize(tree, contents, cancellationToken).ConfigureAwait(false);
                if (copy.Parents)
                {
                    string relative = RelativeTo(rootPath, match);
                    if (relative.Length > 0) PlaceAt(relative, top with { Open = null }, keepOwner: true);
                    foreach (var entry in materialized)
                        PlaceAt(PathRules.Join("/" + relative, RelativeTo(top.Path, entry.Path)).TrimStart('/'), entry, keepOwner: true);
                }
                else
                {
                    PlaceContents(materialized.Select(e => (RelativeTo(top.Path, e.Path), e)), keepOwner: true);
                }
            }
            else
            {
                if (IsExcluded(match.TrimStart('/'))) continue;
                var entry = (await Materialize(tree, [top], cancellationToken).ConfigureAwait(false))[0];
                if (copy.Parents) PlaceAt(RelativeTo(rootPath, match), entry, keepOwner: true);
                else PlaceFile(ImagePath.Name(match), entry, keepOwner: true);
            }
        }
    }

    private async Task<IReadOnlyList<FileEntry>> Materialize(FileTree tree, IReadOnlyList<FileEntry> entries, CancellationToken cancellationToken)
    {
        if (entries.Count == 0) return [];
        return await tree.MaterializeAsync(entries, Services.TempDirectory, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The paths of a tree that match a clean absolute pattern, segment by segment.</summary>
    private static IReadOnlyList<string> Glob(FileTree tree, string pattern)
    {
        var current = new List<string> { "/" };
        foreach (string segment in pattern.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            var next = new List<string>();
            foreach (string directory in current)
            {
                if (!GoPath.ContainsWildcards(segment))
                {
                    string literal = PathRules.Join(directory, Unescape(segment));
                    if (tree.Get(literal) is not null) next.Add(literal);
                    continue;
                }
                var dir = tree.Resolve(directory);
                if (dir is not { Type: TarTypeFlag.Directory }) continue;
                foreach (var child in tree.Enumerate(dir.Path))
                {
                    if (ImagePath.Parent(child.Path) != dir.Path) continue;
                    string name = ImagePath.Name(child.Path);
                    if (GoPath.Match(segment, name)) next.Add(PathRules.Join(directory, name));
                }
            }
            current = next;
        }
        return current.Count == 1 && current[0] == "/" && pattern == "/" ? ["/"] : current.Distinct().Order(StringComparer.Ordinal).ToList();
    }

    private static string Unescape(string segment) => segment.Replace("\\", "", StringComparison.Ordinal);

    private static string RelativeTo(string root, string path)
    {
        string prefix = root.TrimEnd('/') + "/";
        return path.StartsWith(prefix, StringComparison.Ordinal) ? path[prefix.Length..] : path == root ? "" : path.TrimStart('/');
    }

    /// <summary><c>a/./b/c</c>: the folders before <c>/./</c> are dropped, those after kept (<c>--parents</c>).</summary>
    private static (string Root, string Pattern) SplitPivot(string source)
    {
        int pivot = source.IndexOf("/./", StringComparison.Ordinal);
        return pivot < 0 ? ("", source) : (source[..pivot], source[(pivot + 3)..]);
    }
}
