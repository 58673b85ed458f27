namespace Livrable.Diagnostics;

/// <summary>
/// Where a <c>LIV</c> code is explained, for the help link an IDE or a build log shows next to the diagnostic: one page
/// per code group in <c>docs/diagnostics</c> (<c>LIV1xxx.md</c> for the Dockerfile codes, ...), one heading per code,
/// so a code's link is <c>PAGE#livNNNN</c> (the anchor GitHub gives the heading <c>LIVNNNN</c>). The pages are
/// generated from <see cref="DiagnosticCodes"/>, and a test keeps them in step.
/// </summary>
public static class DiagnosticHelp
{
    /// <summary>
    /// The pages' folder, online. A link relative to the repository would mean nothing in a user's build log, so the
    /// absolute address lives here, once. A placeholder until the project has a public home.
    /// </summary>
    public const string BaseUrl = "https://github.com/livrable/livrable/blob/main/docs/diagnostics/";

    /// <summary>The page of a code's group, <c>LIV4006</c> → <c>LIV4xxx.md</c>.</summary>
    public static string Page(string code) => code.Substring(0, 4) + "xxx.md"; // no ranges: also built for net472

    /// <summary>The code's help link, or null for a string that is not a known code.</summary>
    public static string? Link(string? code)
        => code is not null && DiagnosticCodes.IsKnown(code) ? BaseUrl + Page(code) + "#" + code.ToLowerInvariant() : null;
}
