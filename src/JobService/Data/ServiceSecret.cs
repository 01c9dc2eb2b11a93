namespace JobService.Data;

/// <summary>A secret every instance must share (the key that signs stream tokens): made once, kept in the database.</summary>
public sealed class ServiceSecret
{
    public required string Name { get; set; }
    public required string Value { get; set; }
    public DateTime CreatedAt { get; set; }
}
