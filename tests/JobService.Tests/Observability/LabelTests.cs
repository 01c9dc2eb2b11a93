using JobService.Llm;
using JobService.Observability;
using Microsoft.Extensions.Options;

namespace JobService.Tests.Observability;

/// <summary>The pieces that keep labels bounded and ages right, on their own.</summary>
public sealed class LabelTests
{
    [Fact]
    public void AVersion7IdCarriesItsCreationTimeAndAnyOtherIdNone()
    {
        var at = new DateTimeOffset(2026, 11, 23, 12, 34, 56, 789, TimeSpan.Zero);

        Assert.Equal(at.UtcDateTime, JobIds.CreatedAt(Guid.CreateVersion7(at)));
        Assert.Null(JobIds.CreatedAt(Guid.NewGuid())); // version 4
    }

    /// <summary>Ids made one after another increase, as both databases order them (PostgreSQL's uuid bytes, SQLite's text), many to a millisecond.</summary>
    [Fact]
    public void IdsMadeOneAfterAnotherIncreaseAsTheDatabasesOrderThem()
    {
        var ids = Enumerable.Range(0, 20_000).Select(_ => JobIds.New()).ToList();

        for (var i = 1; i < ids.Count; i++)
        {
            Assert.True(ids[i - 1].ToByteArray(bigEndian: true).AsSpan().SequenceCompareTo(ids[i].ToByteArray(bigEndian: true)) < 0, $"id {i} is not after id {i - 1}");
            Assert.True(string.CompareOrdinal(ids[i - 1].ToString().ToUpperInvariant(), ids[i].ToString().ToUpperInvariant()) < 0);
        }
        Assert.True(ids.GroupBy(id => JobIds.CreatedAt(id)).Max(g => g.Count()) > 1); // several in one millisecond: the sequence, not the clock, ordered them
    }

    [Fact]
    public void NewIdsAreVersion7WithTheirCreationTimeAndNeverRepeatAcrossRefillsAndThreads()
    {
        // 1,000 ids on each of four threads of their own, made side by side: each thread's random
        // buffer (256 ids) is refilled three times.
        var made = new (DateTime Before, List<Guid> Ids, DateTime After)[4];
        using var start = new Barrier(made.Length);
        var threads = Enumerable.Range(0, made.Length).Select(t => new Thread(() =>
        {
            start.SignalAndWait();
            var before = DateTime.UtcNow;
            var ids = Enumerable.Range(0, 1000).Select(_ => JobIds.New()).ToList();
            made[t] = (before, ids, DateTime.UtcNow);
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());

        foreach (var (before, ids, after) in made)
            foreach (var id in ids)
            {
                Assert.Equal(7, id.Version);
                Assert.Equal(0b10, id.Variant >> 2); // RFC 9562's variant: 10xx
                var created = JobIds.CreatedAt(id)!.Value;
                Assert.InRange(created, before.AddTicks(-(before.Ticks % TimeSpan.TicksPerMillisecond)), after);
            }
        var all = made.SelectMany(m => m.Ids).ToList();
        Assert.Equal(all.Count, all.Distinct().Count());
        // The random bits differ, not only the time: no two ids share their last eight bytes.
        Assert.Equal(all.Count, all.Select(id => Convert.ToHexString(id.ToByteArray(bigEndian: true), 8, 8)).Distinct().Count());
    }

    [Fact]
    public void OnlyModelsTheConfigurationKnowsBecomeLabelValues()
    {
        var options = new LlmOptions
        {
            Prices = { ["gpt-4o-mini"] = new ModelPrice() },
            Providers = { ["local"] = new LlmProviderOptions { BaseUrl = "http://localhost:11434/v1", DefaultModel = "llama3.2" } },
        };
        var labels = new ModelLabels(Options.Create(options));

        Assert.Equal("gpt-4o-mini", labels.For("gpt-4o-mini"));
        Assert.Equal("llama3.2", labels.For("llama3.2"));
        Assert.Equal("offline", labels.For("offline"));
        Assert.Equal("other", labels.For("a-model-named-in-a-payload"));
        Assert.Equal("other", labels.For(null));
    }
}
