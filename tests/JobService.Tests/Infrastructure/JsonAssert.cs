using System.Text.Json.Nodes;

namespace JobService.Tests.Infrastructure;

/// <summary>JSON compared as JSON: PostgreSQL's jsonb stores documents re-spaced and with keys reordered.</summary>
public static class JsonAssert
{
    public static void Equal(string expected, string? actual) =>
        Assert.True(actual is not null && JsonNode.DeepEquals(JsonNode.Parse(expected), JsonNode.Parse(actual)),
            $"Expected JSON {expected}, got {actual ?? "null"}");
}
