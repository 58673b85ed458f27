using System.Text.Json;
using Xunit;

namespace Livrable.Tests.Sdk;

/// <summary>
/// Livrable against the .NET SDK's own <c>PublishContainer</c> on the same projects and base (<see cref="SdkOracleFixture"/>):
/// the config fields the SDK decides (User, ExposedPorts, Env, Entrypoint, Cmd, WorkingDir modulo the SDK's trailing
/// slash) and every label the SDK writes (same value; the creation time aside, which the SDK takes from the clock)
/// must be equal. The cases: web, console and worker; framework-dependent and self-contained; linux-x64,
/// linux-arm64 and linux-musl-x64.
/// </summary>
public sealed class SdkDifferentialTests : IClassFixture<SdkOracleFixture>
{
    private readonly SdkOracleFixture _fixture;

    public SdkDifferentialTests(SdkOracleFixture fixture) => _fixture = fixture;

    public static TheoryData<string> Cases() => new(SdkOracleFixture.Cases.Select(c => c.Name));

    private (JsonElement Sdk, JsonElement Livrable) Configs(string name)
        => (_fixture.SdkConfigs[name].GetProperty("config"), _fixture.LivrableConfigs[name].GetProperty("config"));

    [Theory]
    [MemberData(nameof(Cases))]
    public void UserPortsEnvironmentAndCommandAreTheSdks(string name)
    {
        var (sdk, livrable) = Configs(name);
        Assert.Equal("1654", Text(sdk, "User"));
        Assert.Equal(Text(sdk, "User"), Text(livrable, "User"));
        Assert.Equal(["8080/tcp"], Keys(sdk, "ExposedPorts"));
        Assert.Equal(Keys(sdk, "ExposedPorts"), Keys(livrable, "ExposedPorts"));
        Assert.Equal(List(sdk, "Env"), List(livrable, "Env"));
        Assert.Equal(List(sdk, "Entrypoint"), List(livrable, "Entrypoint"));
        Assert.Equal(List(sdk, "Cmd"), List(livrable, "Cmd"));
        Assert.Equal(Text(sdk, "WorkingDir")?.TrimEnd('/'), Text(livrable, "WorkingDir"));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ThePlatformIsTheRuntimeIdentifiers(string name)
    {
        var (sdk, livrable) = (_fixture.SdkConfigs[name], _fixture.LivrableConfigs[name]);
        string architecture = SdkOracleFixture.Cases.Single(c => c.Name == name).Rid.EndsWith("arm64", StringComparison.Ordinal) ? "arm64" : "amd64";
        Assert.Equal(("linux", architecture), (Text(sdk, "os"), Text(sdk, "architecture")));
        Assert.Equal((Text(sdk, "os"), Text(sdk, "architecture")), (Text(livrable, "os"), Text(livrable, "architecture")));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void EveryLabelTheSdkWritesHasTheSameValue(string name)
    {
        var (sdk, livrable) = Configs(name);
        var sdkLabels = Map(sdk, "Labels");
        var livrableLabels = Map(livrable, "Labels");
        Assert.Contains("net.dot.sdk.version", sdkLabels.Keys);
        var @case = SdkOracleFixture.Cases.Single(c => c.Name == name);
        Assert.Equal(_fixture.BaseDigests[@case.BaseTag], sdkLabels["org.opencontainers.image.base.digest"]);
        Assert.Equal($"{_fixture.BaseRepository}:{@case.BaseTag}", sdkLabels["org.opencontainers.image.base.name"]);
        Assert.Equal(sdkLabels.Keys.Order(StringComparer.Ordinal), livrableLabels.Keys.Order(StringComparer.Ordinal));
        foreach (var (key, value) in sdkLabels)
        {
            if (key.EndsWith(".created", StringComparison.Ordinal)) continue;
            Assert.True(value == livrableLabels[key], $"{name}: label {key} is '{livrableLabels[key]}', the SDK wrote '{value}'");
        }
        // Livrable's creation time is reproducible: not in git, no SOURCE_DATE_EPOCH, so the fixed epoch.
        Assert.Equal("1980-01-01T00:00:01.0000000Z", livrableLabels["org.opencontainers.image.created"]);
    }

    private static string? Text(JsonElement config, string name)
        => config.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static List<string> List(JsonElement config, string name)
        => config.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Array ? value.EnumerateArray().Select(v => v.GetString()!).ToList() : [];

    private static List<string> Keys(JsonElement config, string name)
        => config.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Object ? value.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal).ToList() : [];

    private static Dictionary<string, string> Map(JsonElement config, string name)
        => config.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Object
            ? value.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? "")
            : [];
}
