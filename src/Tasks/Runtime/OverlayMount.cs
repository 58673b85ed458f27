using Livrable.Diagnostics;
using Livrable.Interop;

namespace Livrable.Runtime;

/// <summary>
/// An overlay file system mounted for one step (https://docs.kernel.org/filesystems/overlayfs.html): the layers'
/// folders as <c>lowerdir</c> (top first), an empty <c>upperdir</c> that receives every change, and its
/// <c>workdir</c>. Disposing unmounts it (lazily when still busy), whatever happened in between.
/// </summary>
internal sealed class OverlayMount : IDisposable
{
    private OverlayMount(string target) => Target = target;

    /// <summary>Where the merged view is mounted.</summary>
    public string Target { get; }

    /// <summary>Mounts <paramref name="lowersTopFirst"/> with <paramref name="upper"/> and <paramref name="work"/> at <paramref name="target"/>.</summary>
    public static OverlayMount Mount(IReadOnlyList<string> lowersTopFirst, string upper, string work, string target)
    {
        string data = Options(lowersTopFirst, upper, work);
        Directory.CreateDirectory(target);
        // A kernel before 5.10 does not know `volatile` and refuses the options with EINVAL: then without it.
        int result = Native.Mount("overlay", target, "overlay", 0, data + Volatile);
        if (result != 0 && Native.LastError == Native.EINVAL)
            result = Native.Mount("overlay", target, "overlay", 0, data);
        if (result != 0)
        {
            int errno = Native.LastError;
            throw new LivrableException(DiagnosticCodes.OverlayFailed,
                $"Mounting the overlay file system for RUN failed: {Native.Describe(errno)}. RUN needs overlay (the 'overlay' kernel module) and root.");
        }
        return new OverlayMount(target);
    }

    /// <summary>
    /// Appended to <see cref="Options"/> where the kernel knows it (5.10 and later): the overlay does not sync its upper
    /// file system when it is unmounted. Without it, every RUN's unmount waited for the whole file system's writeback,
    /// the previous build's tarball included: 0.13-0.14 s of each one-line edit of samples/pyapp with 240 MB dirty, more
    /// right after a cold build (issue 14). Nothing relies on that sync: the upper folder is read back through the page
    /// cache, and what outlives the build (the layer's blob, an adopted lower folder) is bound to the boot like every
    /// other unflushed state file (Layers/BootId), so a crash that loses it also makes it untrusted.
    /// </summary>
    public const string Volatile = ",volatile";

    /// <summary>
    /// The mount options (<c>lowerdir=...,upperdir=...,workdir=...</c>), with <paramref name="upper"/> and
    /// <paramref name="work"/> created; LIV5008 for folders the options cannot carry or options longer than a page.
    /// </summary>
    public static string Options(IReadOnlyList<string> lowersTopFirst, string upper, string work)
    {
        foreach (string dir in lowersTopFirst.Append(upper).Append(work))
            if (dir.Contains(':') || dir.Contains(','))
                throw new LivrableException(DiagnosticCodes.OverlayFailed,
                    $"The folder '{dir}' holds ':' or ',', which overlay mount options cannot carry: use a state folder (ContainerStateDirectory) without them.");
        Directory.CreateDirectory(upper);
        Directory.CreateDirectory(work);
        string data = $"lowerdir={string.Join(':', lowersTopFirst)},upperdir={upper},workdir={work}";
        if (data.Length >= 4000)
            throw new LivrableException(DiagnosticCodes.OverlayFailed,
                $"The overlay mount options for {lowersTopFirst.Count} layers are {data.Length} bytes, more than the kernel's 4096: " +
                "use a shorter state folder (ContainerStateDirectory) or fewer layers.");
        return data;
    }

    public void Dispose() => Unmount(Target);

    /// <summary>Unmounts <paramref name="target"/>; when busy, retries, then detaches it (it goes once unused).</summary>
    public static void Unmount(string target)
    {
        for (int attempt = 0; attempt < 5; attempt++)
        {
            if (Native.Unmount(target, 0) == 0) return;
            int errno = Native.LastError;
            if (errno is Native.EINVAL or Native.ENOENT) return;
            if (errno != Native.EBUSY) break;
            Thread.Sleep(100);
        }
        Native.Unmount(target, Native.MNT_DETACH);
    }
}
