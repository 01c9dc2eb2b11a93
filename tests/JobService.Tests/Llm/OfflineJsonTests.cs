using System.Text.Json.Nodes;
using JobService.Llm;

namespace JobService.Tests.Llm;

/// <summary>The offline provider's answer (one object, as in JSON mode) validates against the schema it was made for, where a value can.</summary>
public sealed class OfflineJsonTests
{
    [Theory]
    [InlineData("""{"type": "object", "properties": {"a": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 0.001}}, "required": ["a"]}""")]
    [InlineData("""{"type": "object", "properties": {"a": {"type": "integer", "exclusiveMinimum": 1.5, "exclusiveMaximum": 3}}, "required": ["a"]}""")]
    [InlineData("""{"type": "object", "properties": {"a": {"type": "integer", "minimum": -7, "maximum": -7}}, "required": ["a"]}""")]
    [InlineData("""{"type": "object", "properties": {"a": {"type": "number", "minimum": 0.123, "maximum": 0.123}}, "required": ["a"]}""")]
    [InlineData("""{"type": "object", "properties": {"a": {"type": "number", "minimum": -1e308, "maximum": 1e308}}, "required": ["a"]}""")]
    [InlineData("""{"type": "object", "properties": {"a": {"type": "number", "exclusiveMaximum": -50}}, "required": ["a"]}""")]
    [InlineData("""{"allOf": [{"type": "object", "properties": {"a": {"type": "boolean"}}, "required": ["a"]}, {"properties": {"b": {"type": "string"}}, "required": ["b"]}]}""")]
    [InlineData("""{"type": "object", "properties": {"a": {"type": "array", "items": false}}, "required": ["a"]}""")]
    [InlineData("""{"required": ["a"], "properties": {"a": {"allOf": [{"type": "string"}, {"minLength": 3}]}}}""")]
    [InlineData("""{"type": "object", "required": ["name"]}""")]
    [InlineData("""{"allOf": [true, {"type": "object"}, {"required": ["name"]}]}""")]
    [InlineData("""{"enum": [{"name": "Ys"}, null]}""")]
    [InlineData("""{"type": ["string", "object"], "properties": {"a": {"type": "integer"}}, "required": ["a"]}""")]
    [InlineData("""{"type": "object", "properties": {"n": {"type": "integer", "minimum": 0, "allOf": [{"minimum": 50}, {"maximum": 60}]}}, "required": ["n"]}""")]
    [InlineData("""{"type": "object", "properties": {"s": {"type": "string", "allOf": [{"maxLength": 10}, {"maxLength": 3}]}}, "required": ["s"]}""")]
    [InlineData("""{"type": "object", "properties": {"e": {"allOf": [{"enum": [1, 2]}, {"enum": [2, 3]}]}}, "required": ["e"]}""")]
    [InlineData("""{"type": "object", "properties": {"t": {"type": "string"}}, "allOf": [{"properties": {"t": {"minLength": 400}}}]}""")]
    // A declared type's sizes are not capped (a model must meet them, not the service), so they may pass int's range: the casts must saturate, not wrap.
    [InlineData("""{"type": "object", "properties": {"s": {"type": "string", "minLength": 3, "maxLength": 1e10}}, "required": ["s"]}""")]
    [InlineData("""{"type": "object", "properties": {"l": {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 3e12}}, "required": ["l"]}""")]
    public void TheAnswerValidates(string schemaText)
    {
        var schema = JsonNode.Parse(schemaText)!.AsObject();
        for (var seed = 0; seed < 50; seed++)
        {
            var answer = OfflineJson.Answer(schema, new Random(seed));
            var errors = JsonSchemaValidator.Validate(answer, schema);
            Assert.True(errors.Count == 0,
                $"seed {seed}: {answer.ToJsonString()} against {schemaText}: {string.Join("; ", errors.Select(e => $"{e.Key} {string.Join(", ", e.Value)}"))}");
            // Size is what the submit check limits an answer by: it must never reckon less than is made.
            Assert.True(answer.ToJsonString().Length <= OfflineJson.Size(schema), $"seed {seed}: {answer.ToJsonString().Length} > {OfflineJson.Size(schema)}");
        }
    }

    /// <summary>Size reckons what would be made without making it: a schema whose answer would be 10^12 characters is reckoned at once.</summary>
    [Fact]
    public void SizeReckonsAnAnswerTooLargeToMakeWithoutMakingIt()
    {
        var schema = JsonNode.Parse("""
            {"properties": {"l": {"type": "array", "minItems": 1000, "items": {"properties": {"m": {"type": "array", "minItems": 1000, "items": {"minLength": 100000}}}}}}}
            """)!.AsObject();

        Assert.InRange(OfflineJson.Size(schema), 1e11, 1e12);
    }
}
