using System.Text.Json;
using System.Text.Json.Nodes;
using JobService.BuiltIn;
using JobService.Handlers;
using JobService.Llm;

namespace JobService.Tests.Worker;

/// <summary>
/// A worker reads a made-up payload of each type before its first job (<see cref="PayloadWarmUp"/>),
/// so that the job does not pay for the first read. That only helps if the made-up payload is read
/// whole, through every member's converter, under the service's strict JSON rules.
/// </summary>
public sealed class PayloadWarmUpTests
{
    enum Tone { Calm = 1, Loud = 2 } // no 0: the first name is written
    sealed record Inner(string Name, int Count);
    sealed record Shapes(
        string Text, int Number, long Big, double Ratio, decimal Price, bool Flag, Guid Id, DateTimeOffset At, DateTime When,
        TimeSpan Span, Tone Tone, Inner Inner, Inner? Maybe, List<Inner> Items, string[] Tags, IReadOnlyList<Tone> Tones,
        Dictionary<string, int> Counts, JsonElement Raw, JsonObject Object, JsonNode Node, JsonArray Array, object Anything,
        int? Optional, Shapes? Self, List<Shapes> Children);
    sealed class Settable
    {
        public required string Name { get; init; }
        public int Times { get; set; }
        public Inner Inner { get; set; } = new("", 0);
    }
    sealed class ByConstructor(string name, IReadOnlyList<Inner> items)
    {
        public string Name { get; } = name;
        public IReadOnlyList<Inner> Items { get; } = items;
    }
    sealed record Refuses(string Name)
    {
        public string Name { get; } = Name.Length == 0 ? throw new ArgumentException("a name is needed") : Name;
    }

    [Fact]
    public void The_built_in_payloads_are_read_whole()
    {
        Assert.True(PayloadWarmUp.Read<EchoPayload>());
        Assert.True(PayloadWarmUp.Read<TextGenerationPayload>());
        Assert.True(PayloadWarmUp.Read<StructuredGenerationPayload>());
    }

    [Fact]
    public void Every_kind_of_member_is_made_up_and_read()
    {
        Assert.True(PayloadWarmUp.Read<Shapes>());
        Assert.True(PayloadWarmUp.Read<Settable>());
        Assert.True(PayloadWarmUp.Read<ByConstructor>()); // members without setters, given to the constructor
        var sample = PayloadWarmUp.Sample(typeof(Shapes));
        Assert.Equal("calm", sample.GetProperty("tone").GetString());
        Assert.Equal(JsonValueKind.Object, sample.GetProperty("items")[0].ValueKind); // one element, so its converter runs too
        Assert.Equal(JsonValueKind.Null, sample.GetProperty("self").ValueKind); // a record inside itself ends
        Assert.Equal(0, sample.GetProperty("children").GetArrayLength());
        Assert.Equal(JsonValueKind.Object, sample.GetProperty("inner").ValueKind);
    }

    [Fact]
    public void A_payload_whose_own_code_throws_is_no_error()
    {
        Assert.False(PayloadWarmUp.Read<Refuses>());
    }
}
