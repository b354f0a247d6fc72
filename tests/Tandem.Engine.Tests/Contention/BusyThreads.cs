using System.Runtime.InteropServices;

namespace Tandem.Engine.Tests.Contention;

/// <summary>
/// Background load that makes the threads under test lose their core at arbitrary instructions, as they do
/// when other processes compete for the cores: spinning threads take the cores, and threads that wake every
/// few tens of microseconds preempt whoever runs (the scheduler favours a waking sleeper). The thread team's
/// race needed the publishing thread to be preempted inside a window of a few instructions, so the rate of
/// preemptions, not only the load, is what makes such a test find it.
/// </summary>
public sealed partial class BusyThreads : IDisposable
{
    private readonly Thread[] _threads;
    private volatile bool _stop;

    /// <summary>Cores available to this process; the default count of spinning threads.</summary>
    public static int Cores => Environment.ProcessorCount;

    /// <summary>
    /// How long a contention test keeps trying: <paramref name="seconds"/> in the suite, or
    /// TANDEM_STRESS_SECONDS to hunt a rare interleaving for longer (e.g. to measure a failure rate).
    /// </summary>
    public static TimeSpan TestDuration(double seconds) =>
        TimeSpan.FromSeconds(double.TryParse(Environment.GetEnvironmentVariable("TANDEM_STRESS_SECONDS"), out double s) && s > 0 ? s : seconds);

    /// <param name="spinners">Threads that spin without pause.</param>
    /// <param name="wakers">Threads that sleep ~20 µs, spin briefly, and sleep again.</param>
    public BusyThreads(int spinners, int wakers = 0)
    {
        _threads = new Thread[spinners + wakers];
        for (int i = 0; i < _threads.Length; i++)
        {
            bool spinner = i < spinners;
            _threads[i] = new Thread(spinner ? Spin : Wake) { IsBackground = true, Name = spinner ? $"busy-{i}" : $"waker-{i}" };
            _threads[i].Start();
        }
    }

    private void Spin()
    {
        long x = 0;
        while (!_stop) x = x * 6364136223846793005L + 1442695040888963407L;
        GC.KeepAlive(x);
    }

    private void Wake()
    {
        while (!_stop)
        {
            if (OperatingSystem.IsLinux()) usleep(20);
            else Thread.Sleep(0);
            Thread.SpinWait(200);
        }
    }

    [LibraryImport("libc")]
    private static partial int usleep(uint microseconds);

    public void Dispose()
    {
        _stop = true;
        foreach (var t in _threads) t.Join();
    }
}
