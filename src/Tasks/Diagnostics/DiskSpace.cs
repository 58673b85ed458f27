namespace Livrable.Diagnostics;

/// <summary>
/// Whether a failure is a full disk, so it can be reported as LIV4006 (free space, then build again) wherever it
/// happens, rather than as the I/O error of whatever step was writing.
/// </summary>
public static class DiskSpace
{
    /// <summary>ENOSPC: the same number on Linux and macOS.</summary>
    public const int NoSpaceErrno = 28;

    /// <summary>
    /// An <see cref="IOException"/> (or one inside <paramref name="exception"/>) for ENOSPC on Unix (the runtime puts
    /// errno in <c>HResult</c>), ERROR_DISK_FULL or ERROR_HANDLE_DISK_FULL on Windows.
    /// </summary>
    public static bool IsFull(Exception? exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is not IOException) continue;
            if (OperatingSystem.IsWindows() ? (e.HResult & 0xFFFF) is 112 or 39
                                            : e.HResult == NoSpaceErrno || e.Message.Contains("No space left", StringComparison.Ordinal))
                return true;
        }
        return false;
    }
}
