using System.Text.Json.Nodes;

namespace Livrable.Tests.Infrastructure;

/// <summary>
/// Runs an unpacked image (a bundle from <c>umoci unpack</c>) with runc, the OCI runtime, and returns what it printed.
/// umoci writes a bundle for an interactive terminal; the tests have none, so that is turned off first.
/// </summary>
public static class Runc
{
    /// <summary>Runs the bundle at <paramref name="bundle"/> to completion; fails the test unless it exits 0.</summary>
    public static async Task<string> RunAsync(string bundle)
    {
        string configPath = Path.Combine(bundle, "config.json");
        var config = JsonNode.Parse(await File.ReadAllTextAsync(configPath))!.AsObject();
        config["process"]!["terminal"] = false;
        await File.WriteAllTextAsync(configPath, config.ToJsonString());
        string id = "livrable-test-" + Guid.NewGuid().ToString("N")[..12];
        try
        {
            var result = await Tools.RunAsync("runc", ["run", "--bundle", bundle, id], TimeSpan.FromMinutes(1));
            return result.EnsureSuccess().Stdout;
        }
        finally
        {
            await Tools.RunAsync("runc", ["delete", "--force", id]);
        }
    }
}
