using System.Text.Json;
using System.Text.RegularExpressions;
using Livrable.Build.Dockerfile;
using Livrable.Diagnostics;
using Livrable.Dockerfile;
using Livrable.Images;
using Livrable.Sources;
using Livrable.Store;
using Livrable.Tests.Infrastructure;

namespace Livrable.Tests.Build.Dockerfile;

/// <summary>
/// Builds instruction records directly (as the parser would give them) and runs them through a
/// <see cref="DockerfileBuildSession"/> with a small expander, so the build's config, history and ARG/ENV semantics are
/// tested apart from the lexer and the file system. Images named in FROM come from <see cref="Images"/>.
/// </summary>
internal sealed class DockerfileHarness : IDisposable
{
    public const string File = "/src/Dockerfile";

    private readonly TempDirectory _temp = new();

    public DockerfileHarness() => Store = new BlobStore(_temp["state"]);

    public BlobStore Store { get; }
    public RecordingLogger Logger { get; } = new();

    /// <summary>Images by the string FROM (or a named context) gives.</summary>
    public Dictionary<string, IImage> Images { get; } = new(StringComparer.Ordinal);

    /// <summary>Every image string the build opened, in order.</summary>
    public List<string> Opened { get; } = [];

    public void Dispose() => _temp.Dispose();

    public static SourceSpan At(int line) => new(File, line, 1);

    public static DockerfileDocument Document(params Stage[] stages) => Document([], stages);

    public static DockerfileDocument Document(IReadOnlyList<ArgInstruction> globalArgs, params Stage[] stages)
        => new(File, new ParserDirectives(), globalArgs, stages);

    /// <summary>A stage; instruction lines are numbered after the FROM's.</summary>
    public static Stage Stage(int index, string image, string? name, params Instruction[] instructions)
        => new(index, new FromInstruction(At(index * 100 + 1), $"FROM {image}{(name is null ? "" : " AS " + name)}", image, name, null), instructions);

    public static Stage Stage(int index, FromInstruction from, params Instruction[] instructions) => new(index, from, instructions);

    private static int _line = 1000;
    private static SourceSpan Next() => At(Interlocked.Increment(ref _line));

    public static EnvInstruction Env(params (string Key, string Value)[] pairs)
        => new(Next(), "ENV " + string.Join(' ', pairs.Select(p => p.Key + "=" + p.Value)), pairs.Select(p => new KeyValue(p.Key, p.Value)).ToList());

    public static ArgInstruction Arg(params (string Name, string? Default)[] args)
        => new(Next(), "ARG " + string.Join(' ', args.Select(a => a.Default is null ? a.Name : a.Name + "=" + a.Default)),
            args.Select(a => new ArgDeclaration(a.Name, a.Default)).ToList());

    public static LabelInstruction Label(params (string Key, string Value)[] pairs)
        => new(Next(), "LABEL " + string.Join(' ', pairs.Select(p => p.Key + "=" + p.Value)), pairs.Select(p => new KeyValue(p.Key, p.Value)).ToList());

    public static CmdInstruction Cmd(params string[] args) => new(Next(), "CMD " + JsonSerializer.Serialize(args), new CommandLine(args, IsExecForm: true));
    public static CmdInstruction CmdShell(string text) => new(Next(), "CMD " + text, new CommandLine([text], IsExecForm: false));
    public static EntrypointInstruction Entrypoint(params string[] args) => new(Next(), "ENTRYPOINT " + JsonSerializer.Serialize(args), new CommandLine(args, IsExecForm: true));
    public static EntrypointInstruction EntrypointShell(string text) => new(Next(), "ENTRYPOINT " + text, new CommandLine([text], IsExecForm: false));
    public static ShellInstruction Shell(params string[] shell) => new(Next(), "SHELL " + JsonSerializer.Serialize(shell), shell);
    public static ExposeInstruction Expose(params string[] ports) => new(Next(), "EXPOSE " + string.Join(' ', ports), ports);
    public static VolumeInstruction Volume(params string[] paths) => new(Next(), "VOLUME " + string.Join(' ', paths), paths);
    public static UserInstruction User(string user) => new(Next(), "USER " + user, user);
    public static StopsignalInstruction StopSignal(string signal) => new(Next(), "STOPSIGNAL " + signal, signal);
    public static MaintainerInstruction Maintainer(string who) => new(Next(), "MAINTAINER " + who, who);
    public static RunInstruction Run(string text) => new(Next(), "RUN " + text, new CommandLine([text], false), [], [], null, null);

    public static OnbuildInstruction Onbuild(string trigger, Instruction parsed) => new(Next(), "ONBUILD " + trigger, trigger, parsed);

    public static CopyInstruction Copy(string from, string source, string destination)
        => new(Next(), $"COPY --from={from} {source} {destination}", [new SourceArgument(source, null)], destination, null, null, false, [], from, false);

    public static HealthcheckInstruction Healthcheck(IReadOnlyList<string> test, TimeSpan? interval = null, int? retries = null)
        => new(Next(), "HEALTHCHECK ...", test, interval, null, null, null, retries);

    /// <summary>Runs the build and returns the target's config as JSON (and the result).</summary>
    public async Task<(JsonElement Config, DockerfileBuildResult Result)> BuildAsync(DockerfileDocument document,
        IReadOnlyDictionary<string, string>? buildArgs = null, IReadOnlyDictionary<string, string>? namedContexts = null,
        string? target = null, Platform? platform = null)
    {
        using var session = new DockerfileBuildSession(document, new DockerfileBuildOptions
        {
            TargetPlatform = platform ?? new Platform("linux", "amd64"),
            BuildPlatform = new Platform("linux", "amd64"),
            Epoch = new DateTimeOffset(2024, 5, 6, 7, 8, 9, TimeSpan.Zero),
            BuildArgs = buildArgs ?? new Dictionary<string, string>(),
            NamedContexts = namedContexts ?? new Dictionary<string, string>(),
            Target = target,
            Store = Store,
            OpenImage = Open,
            Logger = Logger,
            Expander = new FakeExpander(),
            TempDirectory = _temp["tmp"],
        });
        var result = await session.BuildAsync(CancellationToken.None);
        return (JsonDocument.Parse(result.Config.ToBytes()).RootElement.Clone(), result);
    }

    private IImageSource Open(string name)
    {
        lock (Opened) Opened.Add(name);
        if (name == "scratch") return ScratchImage.Instance;
        return Images.TryGetValue(name, out var image)
            ? new FixedSource(image, name)
            : throw new LivrableException(DiagnosticCodes.ManifestNotFound, $"no test image {name}");
    }

    private sealed class FixedSource(IImage image, string name) : IImageSource
    {
        public string Description => name;
        public Task<IImage> ResolveAsync(Platform platform, CancellationToken cancellationToken) => Task.FromResult(image);
    }

    /// <summary>The <c>created_by</c> and <c>empty_layer</c> of each history entry.</summary>
    public static IReadOnlyList<(string CreatedBy, bool Empty)> History(JsonElement config)
        => config.TryGetProperty("history", out var h)
            ? h.EnumerateArray().Select(e => (e.GetProperty("created_by").GetString()!, e.TryGetProperty("empty_layer", out var x) && x.GetBoolean())).ToList()
            : [];

    public static JsonElement ContainerConfig(JsonElement config) => config.GetProperty("config");

    public static IReadOnlyList<string>? Strings(JsonElement parent, string name)
        => parent.TryGetProperty(name, out var a) ? a.EnumerateArray().Select(e => e.GetString()!).ToList() : null;

    public static string? Label(JsonElement config, string key)
        => ContainerConfig(config).TryGetProperty("Labels", out var l) && l.TryGetProperty(key, out var v) ? v.GetString() : null;
}

/// <summary>
/// A small stand-in for the shell lexer: <c>$a</c>, <c>${a}</c>, <c>${a:-w}</c>, double quotes removed, words split on
/// spaces. Enough for the build's semantics; the lexer has its own tests.
/// </summary>
internal sealed class FakeExpander : IWordExpander
{
    public string Word(string word, IReadOnlyDictionary<string, string> environment, SourceSpan span) => Expand(word.Replace("\"", ""), environment);

    public IReadOnlyList<string> Words(string word, IReadOnlyDictionary<string, string> environment, SourceSpan span)
        => Word(word, environment, span).Split(' ', StringSplitOptions.RemoveEmptyEntries);

    public string Raw(string text, IReadOnlyDictionary<string, string> environment, SourceSpan span) => Expand(text, environment);

    private static string Expand(string text, IReadOnlyDictionary<string, string> environment)
        => Regex.Replace(text, @"\$\{(\w+)(?::-([^}]*))?\}|\$(\w+)", m =>
        {
            string name = m.Groups[1].Success ? m.Groups[1].Value : m.Groups[3].Value;
            string value = environment.TryGetValue(name, out var v) ? v : "";
            return value.Length == 0 && m.Groups[2].Success ? m.Groups[2].Value : value;
        });
}
