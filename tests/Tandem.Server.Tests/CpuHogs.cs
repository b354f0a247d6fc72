using System.Diagnostics;

namespace Tandem.Server.Tests;

/// <summary>
/// Other processes competing for the cores: busy shell loops that never sleep, unpinned, at the workers' own priority,
/// so the scheduler preempts the workers' thread teams at arbitrary points (the project's lesson: a thread-team race
/// showed only when other processes competed for the cores). Disposing kills each one by its id.
/// </summary>
public sealed class CpuHogs : IDisposable
{
    private readonly List<Process> _hogs = [];

    public CpuHogs(int count)
    {
        try
        {
            for (int i = 0; i < count; i++)
            {
                var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
                psi.ArgumentList.Add("-c");
                psi.ArgumentList.Add("while :; do :; done");
                _hogs.Add(Process.Start(psi)!);
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public int Running => _hogs.Count(p => !p.HasExited);

    public void Dispose()
    {
        foreach (var p in _hogs)
        {
            try
            {
                if (!p.HasExited) p.Kill();
                p.WaitForExit();
            }
            catch (InvalidOperationException)
            {
            }
            p.Dispose();
        }
        _hogs.Clear();
    }
}
