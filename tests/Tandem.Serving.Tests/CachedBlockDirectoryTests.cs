using Tandem.Serving.Scheduling;

namespace Tandem.Serving.Tests;

/// <summary>
/// A copy of an instance's cached blocks in another process (a cluster frontend's view of a worker) follows it by the
/// reports the instance gives: the whole set first, then only what changed, and the whole set again when the copy
/// cannot be brought up to date by difference.
/// </summary>
public class CachedBlockDirectoryTests
{
    [Fact]
    public void A_copy_follows_its_source_by_difference_and_starts_over_when_the_journal_does_not_reach()
    {
        var source = new CachedBlockDirectory(capacity: 8);
        var copy = new CachedBlockDirectory(capacity: 8);
        for (int b = 1; b <= 4; b++) source.Stored((UInt128)b);

        var first = source.ReportSince(CachedBlockReport.NoEpoch, 0);
        Assert.True(first.Full);
        Assert.Equal(4, first.Stored.Length);
        copy.Apply(first);
        AssertSame(source, copy);

        // Nothing changed: an empty difference.
        var idle = source.ReportSince(first.Epoch, first.Sequence);
        Assert.False(idle.Full);
        Assert.Empty(idle.Stored);
        Assert.Empty(idle.Removed);

        // Evicted, stored again, stored and evicted: each hash once, as it is now.
        source.Removed(1);
        source.Stored(1);
        source.Removed(2);
        source.Stored(5);
        source.Stored(6);
        source.Removed(6);
        var delta = source.ReportSince(first.Epoch, first.Sequence);
        Assert.False(delta.Full);
        Assert.Equal(new UInt128[] { 1, 5 }, delta.Stored.Order().ToArray());
        Assert.Equal(new UInt128[] { 2, 6 }, delta.Removed.Order().ToArray());
        copy.Apply(delta);
        AssertSame(source, copy);

        // More changes than the journal holds (8): the whole set, and the copy drops what it no longer has.
        for (int b = 10; b < 20; b++) source.Stored((UInt128)b);
        source.Removed(3);
        var behind = source.ReportSince(delta.Epoch, delta.Sequence);
        Assert.True(behind.Full);
        copy.Apply(behind);
        AssertSame(source, copy);

        // Another directory's position (a restarted worker): the whole set.
        Assert.True(source.ReportSince(copy.Epoch, behind.Sequence).Full);
        Assert.True(source.ReportSince(behind.Epoch, behind.Sequence + 1).Full);
    }

    private static void AssertSame(CachedBlockDirectory expected, CachedBlockDirectory actual)
    {
        var all = expected.ReportSince(CachedBlockReport.NoEpoch, 0).Stored.Order().ToArray();
        Assert.Equal(all, actual.ReportSince(CachedBlockReport.NoEpoch, 0).Stored.Order().ToArray());
        Assert.Equal(all.Length, actual.LeadingBlocks(all));
    }
}
