using Livrable.Diagnostics;

namespace Livrable.Build;

/// <summary>TEMPORARY stub so the msbuild branch compiles; the lead's ImageBuilder replaces this file on merge.</summary>
public static class ImageBuilder
{
    /// <summary>Builds the image <paramref name="request"/> describes.</summary>
    public static Task<ImageBuildResult> BuildAsync(ImageBuildRequest request, ILogger logger, CancellationToken cancellationToken)
        => throw new NotImplementedException("ImageBuilder is being written on another branch.");
}
