using Livrable.Diagnostics;
using Livrable.Images;

namespace Livrable.Build;

/// <summary>
/// The log of one platform of a multi-platform build: its lines prefixed with the platform (<c>linux/arm64/v8: [3/7]
/// RUN ...</c>), so the interleaved lines of platforms built at the same time say which they belong to.
/// </summary>
internal sealed class PlatformLogger(ILogger inner, Platform platform) : ILogger
{
    private readonly string _prefix = platform + ": ";

    public void Info(string message) => inner.Info(_prefix + message);

    public void Detail(string message) => inner.Detail(_prefix + message);

    public void Warning(string code, string message, SourceSpan? span = null) => inner.Warning(code, _prefix + message, span);
}
