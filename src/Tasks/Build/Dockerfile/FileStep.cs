using System.Text;
using Livrable.Context;
using Livrable.Diagnostics;
using Livrable.Dockerfile;
using Livrable.Filesystem;
using Livrable.Images;
using Livrable.Layers;

namespace Livrable.Build.Dockerfile;

/// <summary>
/// What COPY and ADD share (BuildKit's <c>dispatchCopy</c>, <c>convert_copy.go</c>): sources, destination, <c>--chown</c>,
/// <c>--chmod</c> and <c>--exclude</c> expanded in the build environment; the destination made absolute against the
/// working directory; each source placed by the rules of the checklist's section 3 (a folder's contents into the
/// destination folder; a file at the destination path, or inside it when it ends in <c>/</c> or is a folder already);
/// one layer for the whole instruction, and the history entry <c>COPY [--parents] [--chown=..] [--chmod=..] src... dest</c>.
/// Context files are 0:0 unless <c>--chown</c>; files from a stage or an image keep their owner.
/// </summary>
internal abstract class FileStep(StepContext step, FileInstruction instruction) : IBuildStep
{
    protected StepContext Step { get; } = step;
    protected IStepServices Services => Step.Services;
    protected StageState State => Step.State;
    protected SourceSpan Span => Step.Span;

    /// <summary>The destination as expanded (what history shows).</summary>
    protected string Destination { get; private set; } = "";

    /// <summary>The destination, absolute and clean.</summary>
    protected string DestinationPath { get; private set; } = "/";

    /// <summary>Whether the destination names a folder to copy into (<c>/x/</c>, <c>.</c>...).</summary>
    protected bool IntoDirectory { get; private set; }

    protected (long Uid, long Gid)? Owner { get; private set; }
    protected ChmodSpec? Chmod { get; private set; }
    protected LayerPlan Plan { get; private set; } = null!;

    /// <summary>The <c>--exclude</c> patterns, expanded.</summary>
    protected IReadOnlyList<string> Excludes { get; private set; } = [];

    private DockerIgnore? _excludeMatcher;
    private readonly List<string> _flags = [];

    private IReadOnlyList<string> _sources = [];
    private string? _chown;
    private string? _chmod;

    /// <summary>
    /// Expands the instruction and adds what the layer depends on to <paramref name="key"/>: the expanded values, the
    /// here-documents' contents, the working directory the destination is resolved against, and each source's inputs
    /// (<see cref="AddSourceKeyAsync"/>). Nothing reads the stage's tree: a hit never loads it.
    /// </summary>
    public async Task<StepKeying> PrepareAsync(Cache.StepKey key, CancellationToken cancellationToken)
    {
        var env = State.Environment;
        var expander = Services.Expander;
        _sources = instruction.Sources.Where(s => s.Path is not null).Select(s => expander.Word(s.Path!, env, Span)).ToList();
        Destination = expander.Word(instruction.Destination, env, Span);
        _chown = instruction.Chown is null ? null : expander.Word(instruction.Chown, env, Span);
        _chmod = instruction.Chmod is null ? null : expander.Word(instruction.Chmod, env, Span);
        Excludes = instruction.Excludes.Select(e => expander.Word(e, env, Span)).ToList();
        if (Excludes.Count > 0) _excludeMatcher = DockerIgnore.Parse(string.Join('\n', Excludes));
        BeforeSources(_sources);
        if (_chmod is not null) Chmod = ChmodSpec.Parse(_chmod, Span);
        DestinationPath = PathRules.ResolveDestination(Destination, State.Config.WorkingDir);
        IntoDirectory = PathRules.IsDirectoryDestination(Destination);

        key.Add("sources", _sources).Add("destination", Destination).Add("chown", _chown).Add("chmod", _chmod).Add("excludes", Excludes);
        foreach (var heredoc in instruction.Sources.Select(s => s.Heredoc).OfType<Heredoc>())
            key.Add("heredoc " + heredoc.Name, heredoc.Expand ? expander.Raw(heredoc.Content, env, Span) : heredoc.Content);
        bool complete = true;
        foreach (string source in _sources)
            complete &= await AddSourceKeyAsync(source, key, cancellationToken).ConfigureAwait(false);
        return complete ? StepKeying.Keyed : StepKeying.KnownAfterRunning;
    }

    /// <summary>Runs the step (after <see cref="PrepareAsync"/>): plans the layer, writes it, and records it in the stage.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var env = State.Environment;
        var expander = Services.Expander;
        var sources = _sources;
        // The plan's time (the stage's tree, then every source placed in it), in the detailed log (issue 14).
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        var cpu = Units.Cpu();
        var tree = await State.GetLookupAsync(cancellationToken).ConfigureAwait(false);
        string treeTime = Units.Since(started);
        string treeKind = tree is TreeSnapshot snapshot ? $"snapshot of {snapshot.Count} entries" : "loaded";
        Plan = new LayerPlan(tree, Span);
        if (_chown is not null) Owner = Ownership.Resolve(_chown, tree, Span);

        if (ParentsFlag) _flags.Add("--parents");
        if (_chown is not null) _flags.Add("--chown=" + _chown);
        if (_chmod is not null) _flags.Add("--chmod=" + _chmod);

        foreach (string source in sources)
        {
            NextCopySource();
            await AddSourceAsync(source, cancellationToken).ConfigureAwait(false);
        }
        foreach (var heredoc in instruction.Sources.Select(s => s.Heredoc).OfType<Heredoc>())
        {
            string content = heredoc.Expand ? expander.Raw(heredoc.Content, env, Span) : heredoc.Content;
            byte[] bytes = Encoding.UTF8.GetBytes(content);
            var entry = new FileEntry("/" + heredoc.Name, TarTypeFlag.RegularFile, 0b110_100_100, 0, 0)
            {
                Size = bytes.Length,
                Open = _ => Task.FromResult<Stream>(new MemoryStream(bytes, writable: false)),
            };
            PlaceFile(heredoc.Name, entry, keepOwner: false);
        }

        var createdBy = new StringBuilder(instruction.Keyword);
        foreach (string flag in _flags) createdBy.Append(' ').Append(flag);
        foreach (string source in sources) createdBy.Append(' ').Append(source);
        foreach (var heredoc in instruction.Sources.Select(s => s.Heredoc).OfType<Heredoc>()) createdBy.Append(" <<").Append(heredoc.Name);
        createdBy.Append(' ').Append(Destination);
        // BuildKit marks the history of steps that ran on its solver state with this suffix.
        createdBy.Append(" # buildkit");

        var entries = Plan.Entries();
        CheckNoWhiteoutNames(entries);
        Services.Logger.Detail($"  plan: the tree ({treeKind}, {treeTime}) and {entries.Count} entries ({Units.CpuSince(cpu)}) {Units.Since(started)}");
        await Services.AddLayerAsync(State, entries, createdBy.ToString(), cancellationToken, Step.RunFollows).ConfigureAwait(false);
    }

    /// <summary>
    /// Adds the inputs of one expanded source to the key; false when they cannot be known without running the step.
    /// </summary>
    protected abstract Task<bool> AddSourceKeyAsync(string source, Cache.StepKey key, CancellationToken cancellationToken);

    /// <summary>
    /// The build context files a source reads, in the key (<see cref="ContextSources.AddKey"/>); when the key may wait
    /// (<see cref="Cache.StepKey.MayDefer"/>) and the step reads each file once (<see cref="HashesInLayerWrite"/>),
    /// their content digests are taken by the layer write (<see cref="ContextReads"/>): the files are read once.
    /// </summary>
    protected bool AddContextKey(string source, Cache.StepKey key)
    {
        if (key.MayDefer && HashesInLayerWrite) _reads ??= new ContextReads(Services.ContextDigests(Span));
        return ContextSources.AddKey(Services, Span, source, Excludes, IsExcluded, key, _reads);
    }

    /// <summary>The context files' hashing in the layer write, when the key waits for it; null otherwise.</summary>
    private ContextReads? _reads;

    /// <summary>The context files hashed by the layer write, for the detailed log; null when they were hashed for the key.</summary>
    public int? FilesHashedInLayerWrite => _reads?.FilesHashed;

    /// <summary>
    /// Whether the layer reads each context file of the key whole, as it is (COPY), so that hashing the files as they are
    /// written gives the key's digests; ADD opens archives to look at them and unpacks them, and keeps its own pass.
    /// </summary>
    protected virtual bool HashesInLayerWrite => false;

    /// <summary>
    /// LIV1200 when an entry of the layer (a copied file, its destination name, a folder on the way) is named
    /// <c>.wh.*</c>: in the layer that name is a whiteout, so the COPY would delete a file of the image instead of adding
    /// one. BuildKit writes such a file into the layer as it is, and every reader of the image (containerd, Docker,
    /// umoci) then applies it as a whiteout; Livrable refuses it. COPY and ADD never write whiteouts of their own.
    /// </summary>
    private void CheckNoWhiteoutNames(IReadOnlyList<FileEntry> entries)
    {
        foreach (var entry in entries)
            if (entry.Path.Split('/').Any(s => s.StartsWith(FileEntry.WhiteoutPrefix, StringComparison.Ordinal)))
                throw new LivrableException(DiagnosticCodes.WhiteoutNamedSource,
                    $"{instruction.Keyword} would write '{entry.Path}', whose name starts with '{FileEntry.WhiteoutPrefix}': in a layer that is a " +
                    "whiteout, which deletes a file of the image instead of adding one. Rename it or leave it out (.dockerignore, --exclude).", Span);
    }

    /// <summary>Whether <c>--parents</c> is set (COPY only).</summary>
    protected virtual bool ParentsFlag => false;

    /// <summary>Checks on the expanded sources before anything is read (ADD's <c>--checksum</c> rules).</summary>
    protected virtual void BeforeSources(IReadOnlyList<string> sources) { }

    /// <summary>Adds one expanded source path to the plan.</summary>
    protected abstract Task AddSourceAsync(string source, CancellationToken cancellationToken);

    /// <summary>Whether an <c>--exclude</c> pattern matches this slash-separated relative path.</summary>
    protected bool IsExcluded(string relativePath) => _excludeMatcher?.IsExcluded(relativePath) ?? false;

    /// <summary>
    /// A file (or symlink) source named <paramref name="name"/>: inside the destination when it names a folder (or is one
    /// already, in this layer or the tree), else at the destination path.
    /// </summary>
    protected void PlaceFile(string name, FileEntry entry, bool keepOwner) => Plan.Add(Adjust(entry with { Path = FileTarget(name) }, keepOwner));

    /// <summary>The path a file source named <paramref name="name"/> goes to; its folder is created.</summary>
    protected string FileTarget(string name)
    {
        if (IntoDirectory || Plan.IsDirectory(DestinationPath))
        {
            string directory = Plan.RealPath(DestinationPath);
            EnsureDirectory(directory);
            return PathRules.Join(directory, name);
        }
        // The whole destination is resolved inside the root, the last component too (fsutil's fs.RootPath): a
        // destination that is a symbolic link to a file (/etc/localtime, /etc/os-release) is written through, the link kept.
        string target = Plan.RealPath(DestinationPath);
        EnsureDirectory(ImagePath.Parent(target));
        return target;
    }

    /// <summary>A folder source: its contents (paths relative to it) go into the destination folder, created if needed.</summary>
    protected void PlaceContents(IEnumerable<(string Relative, FileEntry Entry)> contents, bool keepOwner)
    {
        string directory = DestinationDirectory();
        foreach (var (relative, entry) in contents) PlaceCopied(directory, PathRules.Join(directory, relative), entry, keepOwner);
    }

    /// <summary><c>--parents</c>: an entry at a path relative to the destination folder.</summary>
    protected void PlaceAt(string relative, FileEntry entry, bool keepOwner)
    {
        string directory = DestinationDirectory();
        PlaceCopied(directory, PathRules.Join(directory, relative), entry, keepOwner);
    }

    /// <summary>
    /// One entry of a copied folder at <paramref name="path"/> below <paramref name="directory"/>: never over a non-folder
    /// of the image on the way (<see cref="LayerPlan.CheckCopyTarget"/>); the second and later names of one file of the
    /// source (a <see cref="HardLinkGroup"/>) become hard links to the first one copied, as fsutil's inode map does.
    /// </summary>
    private void PlaceCopied(string directory, string path, FileEntry entry, bool keepOwner)
    {
        Plan.CheckCopyTarget(directory, path, entry.Type == TarTypeFlag.Directory);
        if (entry is { Type: TarTypeFlag.RegularFile, HardLinks: { } group })
        {
            if (_linked.TryGetValue(group, out var first))
            {
                // The link is another name of the file written first, so it carries that file's one record
                // (Layers/LinkedCapabilities: every name of a file the same), as BuildKit's differ writes the inode's.
                Plan.Add(Adjust(new FileEntry(path, TarTypeFlag.HardLink, entry.Mode, entry.Uid, entry.Gid) { LinkTarget = first.Path, Capability = first.Capability }, keepOwner));
                return;
            }
            _linked[group] = (path, entry.Capability);
        }
        Plan.Add(Adjust(entry with { Path = path }, keepOwner));
    }

    /// <summary>
    /// The first path each hard-linked file of the current source was copied to, and its record (one map per copy, as
    /// fsutil's).
    /// </summary>
    private readonly Dictionary<HardLinkGroup, (string Path, byte[]? Capability)> _linked = new(ReferenceEqualityComparer.Instance);

    /// <summary>
    /// Starts another copy (a source, or one match of a wildcard): BuildKit copies each with its own fsutil copier, so
    /// hard links are kept within one copy only; two sources naming one file give two files.
    /// </summary>
    protected void NextCopySource() => _linked.Clear();

    /// <summary>The destination as a folder (real path), created if missing.</summary>
    protected string DestinationDirectory()
    {
        string directory = Plan.RealPath(DestinationPath);
        EnsureDirectory(directory);
        return directory;
    }

    /// <summary>An ADD archive: its entries under the destination folder; owners kept unless <c>--chown</c>.</summary>
    protected async Task ExtractAsync(Func<CancellationToken, Task<Stream>> open, CancellationToken cancellationToken)
    {
        string directory = DestinationDirectory();
        var entries = await ArchiveExtraction.ExtractAsync(open, directory, Services.TempDirectory, StepServices.MaxArchiveBytes, cancellationToken)
            .ConfigureAwait(false);
        foreach (var entry in entries)
            Plan.Add(Owner is { } o ? entry with { Uid = o.Uid, Gid = o.Gid } : entry);
    }

    /// <summary>A context entry as a layer entry (<see cref="ContextSources.Entry"/>).</summary>
    protected FileEntry FromContext(ContextEntry entry, string path) => ContextSources.Entry(entry, path, instruction.Keyword, Span, _reads);

    /// <summary>
    /// The build context sources of one path: folders copy their contents, files and symlinks are placed by name;
    /// <paramref name="unpack"/> extracts a file that is an archive (ADD).
    /// </summary>
    protected async Task AddContextSourceAsync(string source, bool unpack, CancellationToken cancellationToken)
    {
        var context = Services.Context(Span);
        foreach (var match in context.Resolve(source, Span))
        {
            if (match.RelativePath != "." && IsExcluded(match.RelativePath)) continue;
            switch (match.Type)
            {
                case ContextEntryType.Directory:
                    NextCopySource();
                    var inodes = new Dictionary<(ulong Device, ulong Inode), HardLinkGroup>();
                    PlaceContents(context.Enumerate(match, Excludes)
                        .Select(e => (Relative(match.RelativePath, e.RelativePath), ContextSources.WithHardLinks(FromContext(e, "/"), e.FullPath, inodes))), keepOwner: false);
                    break;
                case ContextEntryType.File when unpack:
                    var file = FromContext(match, "/");
                    if (file.Open is not null && await ArchiveExtraction.IsArchiveAsync(file.Open, cancellationToken).ConfigureAwait(false))
                        await ExtractAsync(file.Open!, cancellationToken).ConfigureAwait(false);
                    else
                        PlaceFile(ImagePath.Name("/" + match.RelativePath), file, keepOwner: false);
                    break;
                default:
                    PlaceFile(ImagePath.Name("/" + match.RelativePath), FromContext(match, "/"), keepOwner: false);
                    break;
            }
        }
    }

    /// <summary><paramref name="path"/> relative to <paramref name="root"/> (both context-relative; <c>.</c> is the root).</summary>
    protected static string Relative(string root, string path)
        => root is "." or "" ? path : path.Length > root.Length && path.StartsWith(root + "/", StringComparison.Ordinal) ? path[(root.Length + 1)..] : path;

    /// <summary>The owner (<c>--chown</c>, else 0:0 or the source's) and mode (<c>--chmod</c>) an entry gets.</summary>
    protected FileEntry Adjust(FileEntry entry, bool keepOwner)
    {
        var (uid, gid) = Owner ?? (keepOwner ? (entry.Uid, entry.Gid) : (0L, 0L));
        int mode = Chmod is not null && entry.Type is TarTypeFlag.RegularFile or TarTypeFlag.Directory
            ? Chmod.Apply(entry.Mode, entry.Type == TarTypeFlag.Directory)
            : entry.Mode;
        return entry with { Uid = uid, Gid = gid, Mode = mode };
    }

    /// <summary>
    /// The folders made for the destination (missing parents, and the folder a folder's contents go into): 0755 whatever
    /// <c>--chmod</c> says, as fsutil's <c>MkdirAll(target, 0755, ...)</c>; <c>--chmod</c> is for what is copied.
    /// </summary>
    private void EnsureDirectory(string path)
        => Plan.EnsureDirectory(path, 0b111_101_101, Owner?.Uid ?? 0, Owner?.Gid ?? 0);
}
