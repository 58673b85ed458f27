using System.IO.Enumeration;
using Livrable.Diagnostics;
using Livrable.Go;
using Livrable.Layers;

namespace Livrable.Context;

/// <summary>
/// The build context: a folder on disk seen through its <c>.dockerignore</c>, as BuildKit sees the context the client
/// sent it. Excluded paths are not there at all: a COPY of one is "not found", a wildcard never matches one. An
/// excluded folder is still there when an exception (<c>!</c>) brings back something inside it.
/// </summary>
/// <remarks>
/// COPY/ADD sources follow BuildKit (<c>dockerfile2llb/convert_copy.go</c>, fsutil <c>copy.ResolveWildcards</c>;
/// https://docs.docker.com/reference/dockerfile/#copy): a leading <c>/</c> and <c>..</c> are clamped to the root, a
/// trailing <c>/</c> is ignored, the folders before the first one with a wildcard are taken literally, the rest are
/// matched folder by folder with Go's <c>filepath.Match</c>. A symbolic link named by a source (or matched by a
/// wildcard, or met on the way) is followed, but never out of the context; links inside a copied folder are kept as
/// links.
/// </remarks>
public sealed partial class BuildContext
{
    private const int MaxLinkHops = 40;

    private readonly string _root;

    private BuildContext(string root, DockerIgnore ignore)
    {
        _root = root;
        Ignore = ignore;
    }

    /// <summary>The context folder, absolute, with symbolic links resolved.</summary>
    public string Root => _root;

    /// <summary>The ignore file in force (<see cref="DockerIgnore.Empty"/> when there is none).</summary>
    public DockerIgnore Ignore { get; }

    /// <summary>
    /// Opens a context folder. The ignore file is <c>&lt;Dockerfile&gt;.dockerignore</c> beside the Dockerfile when
    /// that exists (<c>build/app.Dockerfile.dockerignore</c>), else <c>&lt;root&gt;/.dockerignore</c>, else none
    /// (BuildKit's <c>frontend/dockerui/config.go</c>).
    /// </summary>
    /// <exception cref="LivrableException">LIV1064 when the folder does not exist or the ignore file cannot be read;
    /// LIV1062 when the ignore file has a malformed pattern.</exception>
    public static BuildContext Open(string root, string? dockerfilePath)
    {
        ArgumentNullException.ThrowIfNull(root);
        string full = Path.GetFullPath(root);
        if (!Directory.Exists(full))
            throw new LivrableException(DiagnosticCodes.ContextUnreadable, $"The build context folder '{full}' does not exist.");
        string real = HostRealPath(full);

        string? ignoreFile = null;
        if (!string.IsNullOrEmpty(dockerfilePath))
        {
            string beside = Path.GetFullPath(dockerfilePath) + ".dockerignore";
            if (File.Exists(beside)) ignoreFile = beside;
        }
        if (ignoreFile is null)
        {
            string inRoot = Path.Combine(full, ".dockerignore");
            if (File.Exists(inRoot)) ignoreFile = inRoot;
        }

        DockerIgnore ignore = DockerIgnore.Empty;
        if (ignoreFile is not null)
        {
            string text;
            try
            {
                text = File.ReadAllText(ignoreFile);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new LivrableException(DiagnosticCodes.ContextUnreadable, $"Cannot read '{ignoreFile}': {e.Message}", inner: e);
            }
            try
            {
                ignore = DockerIgnore.Parse(text);
            }
            catch (LivrableException e)
            {
                throw new LivrableException(e.Code, $"{ignoreFile}: {e.Message}", inner: e);
            }
        }
        return new BuildContext(real, ignore);
    }

    /// <summary>
    /// Checks each wildcard segment of a clean source path the way fsutil does before it walks (Go's
    /// <c>filepath.Match</c> syntax), for COPY from the context and from a stage or image alike.
    /// </summary>
    /// <exception cref="LivrableException">LIV1063 for a malformed wildcard.</exception>
    public static void CheckPattern(string clean, SourceSpan span)
    {
        foreach (string part in clean.Split('/'))
        {
            if (!GoPath.ContainsWildcards(part)) continue;
            try
            {
                GoPath.Validate(part);
            }
            catch (GoPath.BadPatternException)
            {
                throw new LivrableException(DiagnosticCodes.InvalidSourcePattern,
                    $"{GoFormat.Quote(clean)}: syntax error in pattern {GoFormat.Quote(part)}", span);
            }
        }
    }

    /// <summary>
    /// The context entries one COPY/ADD source (already variable-expanded) names, sorted by
    /// <see cref="ContextEntry.RelativePath"/> (ordinal). A folder is returned as one entry: see <see cref="Enumerate"/>.
    /// A followed link is returned with the link's path and the target's type, mode, size and full path.
    /// </summary>
    /// <exception cref="LivrableException">
    /// At <paramref name="span"/>: LIV1060 when a path without wildcards is missing or excluded (<c>"/x": not found</c>);
    /// LIV1061 when a link leads out of the context; LIV1063 for a malformed wildcard. A wildcard matching nothing is
    /// an empty list, not an error.
    /// </exception>
    public IReadOnlyList<ContextEntry> Resolve(string source, SourceSpan span)
    {
        ArgumentNullException.ThrowIfNull(source);
        string clean = GoPath.Clean("/" + source);
        string relative = clean.TrimStart('/');
        if (relative.Length == 0) return [RootEntry()];

        string[] parts = relative.Split('/');
        int firstWildcard = Array.FindIndex(parts, GoPath.ContainsWildcards);
        if (firstWildcard < 0)
            return [ResolveLiteral(relative, clean, span) ?? throw NotFound(clean, span)];

        CheckPattern(clean, span);

        string baseRelative = string.Join('/', parts[..firstWildcard]);
        string baseReal = _root;
        if (baseRelative.Length > 0)
        {
            ContextEntry? baseEntry = ResolveLiteral(baseRelative, "/" + baseRelative, span);
            if (baseEntry is null || baseEntry.Type != ContextEntryType.Directory) return [];
            baseReal = baseEntry.FullPath;
        }

        var results = new List<ContextEntry>();
        MatchLevel(baseReal, RealRelative(baseReal), baseRelative, parts, firstWildcard, results, clean, span);
        results.Sort((a, b) => string.CompareOrdinal(a.RelativePath, b.RelativePath));
        return results;
    }

    /// <summary>
    /// Everything inside a folder entry, recursively (not the folder itself), sorted by
    /// <see cref="ContextEntry.RelativePath"/> (ordinal): the <c>.dockerignore</c> applied (exceptions too, so an
    /// excluded folder appears when something inside it is brought back), then <paramref name="excludes"/>, the
    /// <c>COPY --exclude</c> patterns, in the same syntax and matched against the path relative to
    /// <paramref name="directory"/>, as BuildKit's copy does. Links are returned as links.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="directory"/> is not a folder of this context.</exception>
    /// <exception cref="LivrableException">LIV1062 for a malformed exclude pattern; LIV1064 when a folder cannot be read.</exception>
    public IReadOnlyList<ContextEntry> Enumerate(ContextEntry directory, IReadOnlyList<string> excludes)
    {
        ArgumentNullException.ThrowIfNull(directory);
        ArgumentNullException.ThrowIfNull(excludes);
        if (directory.Type != ContextEntryType.Directory)
            throw new ArgumentException($"'{directory.RelativePath}' is not a folder.", nameof(directory));
        if (!IsInside(directory.FullPath))
            throw new ArgumentException($"'{directory.FullPath}' is not inside the build context '{_root}'.", nameof(directory));

        DockerIgnore exclude = excludes.Count == 0 ? DockerIgnore.Empty : DockerIgnore.FromPatterns(excludes);
        string ignoreRelative = RealRelative(directory.FullPath);
        var output = new List<ContextEntry>();
        Walk(directory.FullPath, ignoreRelative, Ignore.AncestorMatches(ignoreRelative), "", exclude, exclude.AncestorMatches(""),
            directory.RelativePath == "." ? "" : directory.RelativePath, output, ParallelDepth);
        // The walk emits each folder's entries in this order already (WalkOrder); the check keeps the result exactly the
        // sorted list whatever the names, at one compare per entry instead of a sort's 15 (issue 14).
        if (!IsSorted(output))
        {
            Interlocked.Increment(ref _sortsAfterWalk);
            output.Sort((a, b) => string.CompareOrdinal(a.RelativePath, b.RelativePath));
        }
        return output;
    }

    /// <summary>How many walks came out of order and were sorted after all (none should: tests read it).</summary>
    internal static int SortsAfterWalk => Volatile.Read(ref _sortsAfterWalk);

    private static int _sortsAfterWalk;

    private ContextEntry RootEntry() => new(".", _root, ContextEntryType.Directory, ModeOf(new DirectoryInfo(_root), true), 0, null);

    /// <summary>A path without wildcards, links followed; null when it is missing or excluded.</summary>
    private ContextEntry? ResolveLiteral(string relative, string display, SourceSpan span)
    {
        string? real = ResolveInside(relative, display, span);
        if (real is null) return null;
        return EntryForFollowed(relative, real);
    }

    /// <summary>The entry of a followed path: <paramref name="real"/> is link-free and inside the root; null when excluded.</summary>
    private ContextEntry? EntryForFollowed(string logical, string real)
    {
        string realRelative = RealRelative(real);
        bool isDirectory = Directory.Exists(real);
        if (realRelative.Length > 0)
        {
            int slash = realRelative.LastIndexOf('/');
            bool[] parents = Ignore.AncestorMatches(slash < 0 ? "" : realRelative[..slash]);
            if (!IsVisible(real, realRelative, isDirectory, parents)) return null;
        }
        if (isDirectory)
            return new ContextEntry(logical, real, ContextEntryType.Directory, ModeOf(new DirectoryInfo(real), true), 0, null);
        var file = new FileInfo(real);
        return new ContextEntry(logical, real, ContextEntryType.File, ModeOf(file, false), file.Length, null);
    }

    private void MatchLevel(string directoryReal, string directoryIgnore, string directoryLogical, string[] parts, int index,
        List<ContextEntry> results, string display, SourceSpan span)
    {
        bool[] parents = Ignore.AncestorMatches(directoryIgnore);
        foreach (Listed info in List(directoryReal))
        {
            string name = info.Name;
            if (!GoPath.Match(parts[index], name)) continue;
            string ignorePath = Join(directoryIgnore, name);
            string logicalPath = Join(directoryLogical, name);
            bool isLink = info.Type == ContextEntryType.Symlink;
            bool isDirectory = info.Type == ContextEntryType.Directory;
            if (!IsVisible(info.FullName, ignorePath, isDirectory, parents)) continue;

            if (index == parts.Length - 1)
            {
                // Each match is a source of its own: a link is followed as a named one would be.
                if (isLink)
                {
                    string? real = ResolveInside(ignorePath, display, span);
                    ContextEntry? followed = real is null ? null : EntryForFollowed(logicalPath, real);
                    results.Add(followed ?? throw NotFound("/" + logicalPath, span));
                }
                else if (isDirectory)
                {
                    results.Add(new ContextEntry(logicalPath, info.FullName, ContextEntryType.Directory, info.Mode, 0, null) { Status = info.Status });
                }
                else
                {
                    results.Add(new ContextEntry(logicalPath, info.FullName, ContextEntryType.File, info.Mode, info.Size, null) { Status = info.Status });
                }
            }
            else if (isDirectory)
            {
                MatchLevel(info.FullName, ignorePath, logicalPath, parts, index + 1, results, display, span);
            }
        }
    }

    /// <summary>
    /// Whether a path is in the context: not excluded, or a folder with something inside brought back by an exception.
    /// </summary>
    private bool IsVisible(string real, string ignorePath, bool isDirectory, bool[] parents)
    {
        bool[]? own = isDirectory ? new bool[parents.Length] : null;
        if (!Ignore.Evaluate(ignorePath, parents, own)) return true;
        if (!isDirectory || !Ignore.CanReincludeUnder(ignorePath)) return false;
        return Walk(real, ignorePath, own!, "", DockerIgnore.Empty, [], "", output: null);
    }

    /// <summary>
    /// How many levels of a folder's walk list their subfolders on all cores (<see cref="Walk"/>): a build's context key
    /// lists every file, and one <c>lstat</c> after another on one core was a quarter of an unchanged build's image step
    /// (20,000 files, issue 14). Two levels spread the usual layouts (a few top folders, or one <c>src/</c>).
    /// </summary>
    private const int ParallelDepth = 2;

    /// <summary>
    /// One walk of a folder. Adds the visible entries to <paramref name="output"/> (or, when it is null, stops at the
    /// first one) and says whether there was any. Excluded folders are skipped whole unless an exception could bring
    /// something inside back. The entries go out in <see cref="Enumerate"/>'s order (ordinal by path): the folder's
    /// listing is put in <see cref="WalkOrderOf"/>'s order, each subfolder's entries follow at its name and a slash, and its own
    /// entry goes before the siblings whose names extend its name with a character below the slash (<c>a</c>,
    /// <c>a.txt</c>, <c>a/b</c>). With <paramref name="parallelDepth"/> above 0 (and an output), the subfolders of this
    /// folder are walked at the same time, each into a list of its own, then placed the same way.
    /// </summary>
    private bool Walk(string directoryReal, string ignoreRelative, bool[] ignoreParents, string subRelative, DockerIgnore exclude,
        bool[] excludeParents, string logicalPrefix, List<ContextEntry>? output, int parallelDepth = 0)
    {
        bool any = false;
        Listed[] listing = List(directoryReal);
        int[] order = WalkOrder(listing);
        // Arrays, not lists of Livrable's value types: the run-time compiled code of List<T> over them ran, unoptimized,
        // for each of a context's entries (issue 14; the task assembly's ReadyToRun image cannot hold it).
        bool parallel = output is not null && parallelDepth > 0 && CountFolders(listing) > 0;
        // A subfolder's walk by its place in the order (parallel only), walked below before the entries go out.
        var subfolders = parallel ? new (ContextEntry Entry, bool Self, Func<List<ContextEntry>, bool> Walk)[order.Length] : null;
        List<ContextEntry>?[]? inner = null;
        bool[]? found = null;
        if (subfolders is not null)
        {
            var walks = new List<int>();
            for (int at = 0; at < order.Length; at++)
            {
                Listed info = listing[order[at]];
                if (info.Type != ContextEntryType.Directory) continue;
                var (ignorePath, ignoreOwn, subPath, excludeOwn, self, descend) = Decide(info, ignoreRelative, ignoreParents, subRelative, exclude, excludeParents);
                string logicalPath = Join(logicalPrefix, info.Name);
                var entry = new ContextEntry(logicalPath, info.FullName, ContextEntryType.Directory, info.Mode, 0, null) { Status = info.Status };
                subfolders[at] = (entry, self, SubfolderWalk(descend, info.FullName, ignorePath, ignoreOwn, subPath, exclude, excludeOwn, logicalPath, parallelDepth - 1));
                walks.Add(at);
            }
            var lists = inner = new List<ContextEntry>?[order.Length];
            var inside = found = new bool[order.Length];
            var errors = new Exception?[walks.Count];
            Parallel.For(0, walks.Count, i =>
            {
                int at = walks[i];
                try
                {
                    inside[at] = subfolders[at].Walk(lists[at] = []);
                }
                catch (Exception e)
                {
                    errors[i] = e;
                }
            });
            // The first folder's error in the walk's order, as the walk on one core would have met it.
            if (errors.FirstOrDefault(e => e is not null) is { } error)
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(error).Throw();
        }
        // How many entries were out before each place: a folder's own entry goes in before the siblings that sort between it and its contents.
        var outBefore = output is null ? null : new int[order.Length];
        for (int at = 0; at < order.Length; at++)
        {
            Listed info = listing[order[at]];
            if (outBefore is not null) outBefore[at] = output!.Count;
            bool isLink = info.Type == ContextEntryType.Symlink;

            if (info.Type == ContextEntryType.Directory)
            {
                ContextEntry entry;
                bool self, inside;
                if (subfolders is not null)
                {
                    (entry, self, _) = subfolders[at];
                    inside = found![at];
                    if (!self && !inside) continue;
                    output!.AddRange(inner![at]!);
                }
                else
                {
                    var (ignorePath, ignoreOwn, subPath, excludeOwn, selfVisible, descend) = Decide(info, ignoreRelative, ignoreParents, subRelative, exclude, excludeParents);
                    self = selfVisible;
                    if (self && output is null) return true;
                    string logicalPath = Join(logicalPrefix, info.Name);
                    inside = descend && Walk(info.FullName, ignorePath, ignoreOwn, subPath, exclude, excludeOwn, logicalPath, output);
                    if (!self && !inside) continue;
                    if (output is null) return true;
                    entry = new ContextEntry(logicalPath, info.FullName, ContextEntryType.Directory, info.Mode, 0, null) { Status = info.Status };
                }
                any = true;
                output.Insert(outBefore![RunStart(listing, order, at)], entry);
            }
            else
            {
                // Without patterns nothing is excluded: no path to match is made (20,000 files, issue 14).
                if ((!Ignore.IsEmpty && Ignore.Evaluate(info.JoinedTo(ignoreRelative), ignoreParents, null))
                    || (!exclude.IsEmpty && exclude.Evaluate(info.JoinedTo(subRelative), excludeParents, null))) continue;
                any = true;
                if (output is null) return true;
                string logicalPath = info.JoinedTo(logicalPrefix);
                output.Add(isLink
                    ? new ContextEntry(logicalPath, info.FullName, ContextEntryType.Symlink, 0b111_111_111, 0, info.LinkTarget) { Status = info.Status }
                    : new ContextEntry(logicalPath, info.FullName, ContextEntryType.File, info.Mode, info.Size, null) { Status = info.Status });
            }
        }
        return any;
    }

    /// <summary>What the ignore file and the excludes say of a subfolder: whether it is there itself, and whether to look inside.</summary>
    private (string IgnorePath, bool[] IgnoreOwn, string SubPath, bool[] ExcludeOwn, bool Self, bool Descend) Decide(Listed info, string ignoreRelative,
        bool[] ignoreParents, string subRelative, DockerIgnore exclude, bool[] excludeParents)
    {
        string name = info.Name;
        string ignorePath = Join(ignoreRelative, name);
        string subPath = Join(subRelative, name);
        var ignoreOwn = new bool[ignoreParents.Length];
        var excludeOwn = new bool[excludeParents.Length];
        bool ignored = Ignore.Evaluate(ignorePath, ignoreParents, ignoreOwn);
        bool excluded = exclude.Evaluate(subPath, excludeParents, excludeOwn);
        bool descend = (!ignored || Ignore.CanReincludeUnder(ignorePath)) && (!excluded || exclude.CanReincludeUnder(subPath));
        return (ignorePath, ignoreOwn, subPath, excludeOwn, !ignored && !excluded, descend);
    }

    /// <summary>
    /// A subfolder's walk, to run later on the pool (<see cref="Walk"/>). Made here, not as a lambda in the walk's loop:
    /// one there captured the loop's entry, and the compiler made a closure for every entry of the folder, files too
    /// (issue 14: 20,000 of them, copies of each listed entry).
    /// </summary>
    private Func<List<ContextEntry>, bool> SubfolderWalk(bool descend, string directoryReal, string ignoreRelative, bool[] ignoreParents, string subRelative,
        DockerIgnore exclude, bool[] excludeParents, string logicalPrefix, int parallelDepth)
        => inner => descend && Walk(directoryReal, ignoreRelative, ignoreParents, subRelative, exclude, excludeParents, logicalPrefix, inner, parallelDepth);

    /// <summary>
    /// The places of <paramref name="names"/> (a folder's entries) in the order their paths sort in (ordinal, as
    /// <see cref="Enumerate"/> returns them): by name, a folder's name followed by a slash, which is where its contents
    /// sort among its siblings (<c>a.txt</c> before <c>a/b</c>, <c>a0</c> after). The walk emits each folder in this
    /// order, so the whole list needs no sort: a sort of a context's 20,000 paths, after the walk on one thread, was
    /// its last step (issue 14). A merge sort of its own over the indices: no generic sort over Livrable's types, whose
    /// code the task assembly's ReadyToRun image does not hold.
    /// </summary>
    /// <remarks>This form takes names alone (for tests): each one a file, or a folder.</remarks>
    internal static int[] WalkOrderOf(IReadOnlyList<(string Name, bool IsDirectory)> names)
    {
        var listing = new Listed[names.Count];
        for (int i = 0; i < listing.Length; i++)
            listing[i] = new Listed(names[i].Name, names[i].Name.Length, names[i].IsDirectory ? ContextEntryType.Directory : ContextEntryType.File, 0, 0, null, null);
        return WalkOrder(listing);
    }

    /// <summary>The places of <paramref name="listing"/>'s entries in the walk's order (<see cref="WalkOrderOf"/>).</summary>
    private static int[] WalkOrder(Listed[] listing)
    {
        var order = new int[listing.Length];
        for (int i = 0; i < order.Length; i++) order[i] = i;
        if (order.Length < 2) return order;
        var scratch = new int[order.Length];
        // Bottom-up: runs of 1, 2, 4... merged from one array into the other.
        int[] from = order, to = scratch;
        for (int width = 1; width < order.Length; width *= 2)
        {
            for (int left = 0; left < order.Length; left += 2 * width)
            {
                int middle = Math.Min(left + width, order.Length), right = Math.Min(left + 2 * width, order.Length);
                int i = left, j = middle, k = left;
                while (i < middle && j < right) to[k++] = CompareInWalk(listing[from[j]], listing[from[i]]) < 0 ? from[j++] : from[i++];
                while (i < middle) to[k++] = from[i++];
                while (j < right) to[k++] = from[j++];
            }
            (from, to) = (to, from);
        }
        return from;
    }

    /// <summary>Two siblings as their paths compare (<see cref="WalkOrderOf"/>): the names ordinal, a folder's with a slash after it.</summary>
    private static int CompareInWalk(in Listed a, in Listed b)
    {
        var x = a.FullName.AsSpan(a.FullName.Length - a.NameLength);
        var y = b.FullName.AsSpan(b.FullName.Length - b.NameLength);
        int common = Math.Min(x.Length, y.Length);
        for (int i = 0; i < common; i++)
            if (x[i] != y[i]) return x[i] - y[i];
        // One name starts the other (two siblings never have the same name): the shorter one's next character is its
        // folder slash, or nothing.
        if (x.Length == y.Length) return 0;
        return x.Length < y.Length
            ? (a.Type == ContextEntryType.Directory ? '/' - y[common] : -1)
            : (b.Type == ContextEntryType.Directory ? x[common] - '/' : 1);
    }

    /// <summary>
    /// Where the folder at <paramref name="at"/> of <paramref name="order"/> goes itself: before the siblings just ahead
    /// of it whose names are its name followed by a character below the slash (<c>a.txt</c>, <c>a-b/</c> for folder
    /// <c>a</c>), which sort between its path and its contents'.
    /// </summary>
    private static int RunStart(Listed[] listing, int[] order, int at)
    {
        var folder = listing[order[at]];
        var name = folder.FullName.AsSpan(folder.FullName.Length - folder.NameLength);
        int start = at;
        while (start > 0)
        {
            var before = listing[order[start - 1]];
            var other = before.FullName.AsSpan(before.FullName.Length - before.NameLength);
            if (other.Length <= name.Length || other[name.Length] >= '/' || !other.StartsWith(name, StringComparison.Ordinal)) break;
            start--;
        }
        return start;
    }

    /// <summary>Whether the paths are in ordinal order, compared here (the base library's compare is unoptimized code early in a process).</summary>
    private static bool IsSorted(List<ContextEntry> entries)
    {
        for (int i = 1; i < entries.Count; i++)
        {
            string x = entries[i - 1].RelativePath, y = entries[i].RelativePath;
            int common = Math.Min(x.Length, y.Length), at = 0;
            while (at < common && x[at] == y[at]) at++;
            if (at < common ? x[at] > y[at] : x.Length >= y.Length) return false;
        }
        return true;
    }

    private static int CountFolders(Listed[] listing)
    {
        int count = 0;
        foreach (Listed info in listing)
            if (info.Type == ContextEntryType.Directory) count++;
        return count;
    }

    /// <summary>
    /// One entry of a folder's listing: its name, full path, what it is (a link is a link, whatever it points at), its
    /// permission bits and size, a link's target, and its <c>statx</c> status when it was read that way (null else).
    /// </summary>
    private readonly record struct Listed(string FullName, int NameLength, ContextEntryType Type, int Mode, long Size, string? LinkTarget,
        UnixFileStatus? Status)
    {
        /// <summary>The entry's name: the end of <see cref="FullName"/>, made only when asked (a file's is not: issue 14).</summary>
        public string Name => FullName[^NameLength..];

        /// <summary><see cref="Join"/> of <paramref name="parent"/> and the name, without making the name first.</summary>
        public string JoinedTo(string parent) => parent.Length == 0 ? Name : string.Concat(parent, "/", FullName.AsSpan(FullName.Length - NameLength));
    }

    /// <summary>How a folder is listed natively: every name (dot files too), errors thrown, as <c>GetFileSystemInfos</c> lists.</summary>
    private static readonly EnumerationOptions Listing = new() { AttributesToSkip = 0, IgnoreInaccessible = false, RecurseSubdirectories = false };

    /// <summary>
    /// The entries of a folder; LIV4062 when one has a name that is not valid UTF-8 (<see cref="RawNames"/>), which
    /// .NET could not open. Where <c>statx</c> answers, the names are read from the folder and each entry is asked once
    /// with <c>statx</c>, whose status rides on the <see cref="ContextEntry"/> so the digest lookup of a context file
    /// does not ask again (issue 14: an unchanged build of a 20,000-file context asked twice per file, an
    /// <c>lstat</c> through .NET's <see cref="FileSystemInfo"/> and a <c>statx</c> for the digest index). An entry
    /// <c>statx</c> cannot read (gone since the listing, a name .NET could not decode) sends the folder through
    /// <see cref="FileSystemInfo"/>, as before.
    /// </summary>
    private static Listed[] List(string directory)
    {
        try
        {
            if (FolderReader.TryList(directory) is { } read) return read;
            if (UnixFileStatus.IsAvailable && ListNatively(directory) is { } native) return native;
            var infos = new DirectoryInfo(directory).GetFileSystemInfos();
            if (infos.Any(RawNames.IsUndecodable))
            {
                var raw = RawNames.Undecodable(directory);
                throw new LivrableException(DiagnosticCodes.ContextNameNotUtf8,
                    $"The build context folder '{directory}' holds {(raw.Count == 0 ? "a name" : string.Join(", ", raw))} that is not valid UTF-8: " +
                    "an image's paths are UTF-8, and Livrable cannot read the file by that name. Rename it (convmv -f latin1 -t utf8), " +
                    "or move it out of the context.");
            }
            var listed = new Listed[infos.Length];
            for (int i = 0; i < infos.Length; i++)
            {
                var info = infos[i];
                var type = IsLink(info) ? ContextEntryType.Symlink : info is DirectoryInfo ? ContextEntryType.Directory : ContextEntryType.File;
                listed[i] = new Listed(info.FullName, info.Name.Length, type,
                    type == ContextEntryType.Symlink ? 0 : ModeOf(info, type == ContextEntryType.Directory),
                    type == ContextEntryType.File ? ((FileInfo)info).Length : 0,
                    type == ContextEntryType.Symlink ? info.LinkTarget : null, null);
            }
            return listed;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new LivrableException(DiagnosticCodes.ContextUnreadable, $"Cannot read the folder '{directory}': {e.Message}", inner: e);
        }
    }

    /// <summary>Whether <see cref="ListForInputs"/> answers on this machine (Linux, <c>statx</c>).</summary>
    internal static bool ListsForInputs => UnixFileStatus.IsAvailable;

    /// <summary>
    /// A folder's entries for the up-to-date check (<see cref="InputFolders"/>), by this walk's own listing
    /// (<c>getdents64</c> and <c>statx</c> relative to the folder's descriptor, else .NET's names and a <c>statx</c>
    /// each), in <see cref="WalkOrderOf"/>'s order, each with the later of its modification and change times; null
    /// where <c>statx</c> does not answer. Throws as <see cref="List"/> does (LIV1064, LIV4062).
    /// </summary>
    internal static InputFolders.FolderEntry[]? ListForInputs(string directory)
    {
        if (!ListsForInputs) return null;
        Listed[] listing = List(directory);
        int[] order = WalkOrder(listing);
        var entries = new InputFolders.FolderEntry[listing.Length];
        for (int at = 0; at < order.Length; at++)
        {
            Listed info = listing[order[at]];
            // A listing without statx (an entry it could not read, so .NET listed the folder) has no times: ask again.
            if ((info.Status ?? UnixFileStatus.TryRead(info.FullName)) is not { } status) return null;
            entries[at] = new InputFolders.FolderEntry(info.FullName, info.Type == ContextEntryType.Directory, Math.Max(status.ModificationTime, status.ChangeTime));
        }
        return entries;
    }

    /// <summary>The listing of <see cref="List"/> with one <c>statx</c> per entry; null when an entry could not be read so.</summary>
    private static Listed[]? ListNatively(string directory)
    {
        var names = new FileSystemEnumerable<(string Name, string FullName)>(directory,
            (ref FileSystemEntry entry) => (entry.FileName.ToString(), entry.ToFullPath()), Listing);
        var listed = new List<Listed>();
        foreach (var (name, fullName) in names)
        {
            if (UnixFileStatus.TryRead(fullName) is not { } status || ListedOf(name.Length, fullName, status) is not { } entry) return null;
            listed.Add(entry);
        }
        return listed.ToArray();
    }

    /// <summary>
    /// The listed entry of <paramref name="status"/>, whichever listing read it; null when a symbolic link's target
    /// cannot be read (the caller then lists the folder through .NET, which reports it).
    /// </summary>
    private static Listed? ListedOf(int nameLength, string fullName, UnixFileStatus status)
    {
        switch (status.Kind)
        {
            case UnixFileKind.SymbolicLink:
                return new FileInfo(fullName).LinkTarget is { } target
                    ? new Listed(fullName, nameLength, ContextEntryType.Symlink, 0, 0, target, status)
                    : null;
            case UnixFileKind.Directory:
                return new Listed(fullName, nameLength, ContextEntryType.Directory, status.Mode, 0, null, status);
            default:
                // FIFOs, sockets and devices are listed as files, as FileSystemInfo lists them (ContextEntryType).
                return new Listed(fullName, nameLength, ContextEntryType.File, status.Mode, status.Size, null, status);
        }
    }

    private static bool IsLink(FileSystemInfo info)
        => (info.Attributes & FileAttributes.ReparsePoint) != 0 && info.LinkTarget is not null;

    private static string Join(string parent, string name) => parent.Length == 0 ? name : parent + "/" + name;

    /// <summary>Permission bits as on disk; Windows has none, so the usual 0755 and 0644.</summary>
    private static int ModeOf(FileSystemInfo info, bool isDirectory)
    {
        if (OperatingSystem.IsWindows()) return isDirectory ? 0b111_101_101 : 0b110_100_100;
        return (int)info.UnixFileMode;
    }

    private static LivrableException NotFound(string display, SourceSpan span)
        => new(DiagnosticCodes.ContextSourceNotFound, $"{GoFormat.Quote(display)}: not found", span);
}
