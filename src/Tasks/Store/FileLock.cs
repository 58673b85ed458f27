using System.Diagnostics;
using System.Text;
using Livrable.Diagnostics;

namespace Livrable.Store;

/// <summary>
/// A lock between processes on a lock file of the state folder. .NET backs <see cref="FileShare"/> with
/// <c>flock</c> on Unix (<c>FileShare.None</c> is <c>LOCK_EX</c>; a read-only open that shares is <c>LOCK_SH</c>)
/// and with share modes on Windows, so the same code locks on both, and the kernel drops the lock when its holder
/// dies: a killed build never leaves a lock behind. An exclusive holder writes who it is into <c>&lt;lock&gt;.holder</c>
/// beside it (the lock file itself cannot be read while locked: .NET's read takes a shared lock), so a waiter that
/// times out can name it; the holder removes that file before it releases the lock, so it never names a later holder.
/// </summary>
/// <remarks>
/// Lock order (a build that holds several takes them in this order and never waits for an earlier one while it holds a
/// later one, so builds cannot deadlock): 1. <c>locks/state.lock</c> (shared by builds, exclusive by eviction);
/// 2. the build's own lease <c>locks/builds/&lt;id&gt;.lock</c>; 3. one <c>rootfs/&lt;diff-id&gt;.lock</c> at a time;
/// 4. RUN cache mount locks <c>cache/&lt;id&gt;.lock</c>, in the order of the mounts; 5. build cache record locks.
/// </remarks>
public sealed class FileLock : IDisposable
{
    /// <summary>How long a build waits for a lock another process holds before it gives up with LIV4152.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromMinutes(30);

    private readonly FileStream _stream;

    private FileLock(string path, FileStream stream, bool exclusive)
    {
        Path = path;
        _stream = stream;
        Exclusive = exclusive;
    }

    /// <summary>The lock file.</summary>
    public string Path { get; }

    /// <summary>Whether this is the only holder.</summary>
    public bool Exclusive { get; }

    /// <summary>Takes the lock now, or returns null when another process holds it (in a way that conflicts).</summary>
    public static FileLock? TryAcquire(string path, bool exclusive = true)
    {
        try
        {
            var stream = exclusive
                ? new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None)
                : new FileStream(path, FileMode.OpenOrCreate, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            var held = new FileLock(path, stream, exclusive);
            if (exclusive) held.WriteHolder();
            return held;
        }
        catch (IOException) when (File.Exists(path) || Directory.Exists(System.IO.Path.GetDirectoryName(path)))
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>
    /// Waits for the lock, polling, for at most <paramref name="timeout"/> (<see cref="DefaultTimeout"/> when null).
    /// </summary>
    /// <exception cref="LivrableException">LIV4152 when the wait times out, naming the holder when it is known.</exception>
    public static async Task<FileLock> AcquireAsync(string path, bool exclusive, TimeSpan? timeout, CancellationToken cancellationToken)
    {
        var limit = timeout ?? DefaultTimeout;
        var clock = Stopwatch.StartNew();
        int delay = 10;
        while (true)
        {
            if (TryAcquire(path, exclusive) is { } held) return held;
            if (clock.Elapsed >= limit)
                throw new LivrableException(DiagnosticCodes.StateLockTimeout,
                    $"Waited {limit.TotalSeconds:0} s for the lock '{path}', held by {DescribeHolder(path)}. " +
                    "If that process is gone, the lock was released with it; otherwise let it finish, or use another ContainerStateDirectory.");
            await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
            delay = Math.Min(delay * 2, 200);
        }
    }

    /// <summary>What the exclusive holder of <paramref name="path"/> wrote about itself, or "another process".</summary>
    public static string DescribeHolder(string path)
    {
        try
        {
            string text = File.ReadAllText(HolderPath(path), Encoding.UTF8).Trim();
            return text.Length > 0 ? text : "another process";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "another process";
        }
    }

    private static string HolderPath(string path) => path + ".holder";

    /// <summary>Who holds the lock: process id, machine and start time, for the messages of those who wait.</summary>
    public static string CurrentHolder() => $"{ThisProcess.Value} since {DateTime.UtcNow:u}";

    /// <summary>
    /// This process as a holder names it, read once: on Linux <see cref="Process.ProcessName"/> reads the process's
    /// whole status, one <c>/proc/self/task/*/stat</c> per thread, and every build takes its lease and, at its end,
    /// the state lock.
    /// </summary>
    private static readonly Lazy<string> ThisProcess = new(() =>
    {
        using var process = Process.GetCurrentProcess();
        return $"process {Environment.ProcessId} ({process.ProcessName}) on {Environment.MachineName}";
    });

    private void WriteHolder()
    {
        try
        {
            File.WriteAllText(HolderPath(Path), CurrentHolder() + "\n", Encoding.UTF8);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Only a courtesy for waiters' messages.
        }
    }

    /// <summary>Releases the lock (the kernel does it too if the process dies).</summary>
    public void Dispose()
    {
        if (Exclusive)
        {
            try { File.Delete(HolderPath(Path)); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
        _stream.Dispose();
    }
}
