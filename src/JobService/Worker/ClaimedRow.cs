namespace JobService.Worker;

/// <summary>The columns a claim returns, named for EF's SqlQuery mapping.</summary>
sealed class ClaimedRow
{
    public Guid Id { get; set; }
    public string Type { get; set; } = "";
    public string Payload { get; set; } = "";
    public int Attempt { get; set; }
    public int MaxAttempts { get; set; }

    public ClaimedJob ToJob() => new(Id, Type, Payload, Attempt, MaxAttempts);
}
