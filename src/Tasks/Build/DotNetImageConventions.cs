using System.Text.RegularExpressions;
using Livrable.Images;

namespace Livrable.Build;

/// <summary>
/// The conventions of the .NET container images that the .NET SDK's container publishing reads from a base image's
/// environment, applied the same way so that an image made from the same project and base is the same:
/// <c>APP_UID</c> names the user to run as (the official images since .NET 8 create <c>app</c>, uid 1654), and
/// <c>ASPNETCORE_URLS</c>, else <c>ASPNETCORE_HTTP_PORTS</c> and <c>ASPNETCORE_HTTPS_PORTS</c>, name the ports
/// Kestrel listens on, which the image exposes so that tools can map them.
/// https://learn.microsoft.com/dotnet/core/containers/publish-configuration
/// </summary>
public static class DotNetImageConventions
{
    /// <summary>
    /// A URL as ASP.NET Core's BindingAddress reads one, narrowed to what matters here: <c>scheme://host:port</c>
    /// (host <c>*</c>, <c>+</c> or a name); a URL without a port exposes nothing.
    /// </summary>
    private static readonly Regex UrlWithPort = new(@"(?<scheme>\w+)://(?<host>([*+]|).+):(?<port>\d+)", RegexOptions.CultureInvariant);

    /// <summary>The user the base's <c>APP_UID</c> names, or null when it has none.</summary>
    public static string? User(ImageConfig baseConfig) => baseConfig.GetEnv("APP_UID");

    /// <summary>
    /// The ports (<c>8080/tcp</c>) the base's environment says the app listens on: every port of
    /// <c>ASPNETCORE_URLS</c> when it is set (it overrides the other two in ASP.NET Core), else those of
    /// <c>ASPNETCORE_HTTP_PORTS</c> then <c>ASPNETCORE_HTTPS_PORTS</c>. Entries are ';'-separated; one that is not a
    /// number is skipped, as the .NET SDK does.
    /// </summary>
    public static IReadOnlyList<string> Ports(ImageConfig baseConfig)
    {
        var ports = new List<string>();
        if (baseConfig.GetEnv("ASPNETCORE_URLS") is { } urls)
        {
            foreach (string url in Split(urls))
            {
                var match = UrlWithPort.Match(url);
                if (match.Success && int.TryParse(match.Groups["port"].Value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int port))
                    Add(port);
            }
            return ports;
        }
        foreach (string name in new[] { "ASPNETCORE_HTTP_PORTS", "ASPNETCORE_HTTPS_PORTS" })
        {
            if (baseConfig.GetEnv(name) is not { } value) continue;
            foreach (string entry in Split(value))
                if (int.TryParse(entry, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int port)) Add(port);
        }
        return ports;

        void Add(int port)
        {
            string key = $"{port}/tcp";
            if (!ports.Contains(key)) ports.Add(key);
        }

        static IEnumerable<string> Split(string value) => value.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
    }
}
