using JobService.Worker;
using Microsoft.Extensions.Options;

namespace JobService.Tests.Worker;

/// <summary>The claim's size rule (RunningJobs.ClaimRoom); how jobs claimed ahead behave is in WorkerContract.</summary>
public sealed class ClaimRoomTests
{
    static RunningJobs Slots(int concurrency) => new(Options.Create(new WorkerOptions { Concurrency = concurrency }));

    [Theory]
    [InlineData(0, 3)]      // nothing returned during the last claim: the free slots only
    [InlineData(4, 7)]      // as many more as returned...
    [InlineData(6, 9)]
    [InlineData(1_000, 9)]  // ...but at most AheadPerSlot (2) a slot
    public void AClaimTakesTheFreeSlotsAndAsManyMoreAsReturnedUpToTwiceTheSlots(int returned, int room)
    {
        Assert.Equal(2, RunningJobs.AheadPerSlot);
        Assert.Equal(room, Slots(3).ClaimRoom(returned));
    }

    [Theory]
    [InlineData(3, 3)]          // a small worker's first claim fills its slots
    [InlineData(1_000, 250)]    // a large one's takes FirstClaimMax first
    public void TheFirstClaimTakesTheFreeSlotsUpToFirstClaimMax(int slots, int room)
    {
        Assert.Equal(250, RunningJobs.FirstClaimMax);
        Assert.Equal(room, Slots(slots).FirstClaimRoom);
    }
}
