namespace JobService.Tests.Infrastructure;

/// <summary>
/// Tests on the real clock whose leases must not starve: they run alone, after the parallel
/// suites, so that two cores shared with the rest cannot delay a heartbeat past a lease.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SerialCollection
{
    public const string Name = "Serial (real clock, real processes)";
}
