using System.Text.Json.Nodes;
using JobService.Llm;

namespace JobService.Tests.Llm;

/// <summary>The offline provider's answer validates against the schema it was made for, where a value can.</summary>
public sealed class OfflineJsonTests
{
    [Theory]
    [InlineData("""{"type": "object", "properties": {"a": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 0.001}}, "required": ["a"]}""")]
    [InlineData("""{"type": "object", "properties": {"a": {"type": "integer", "exclusiveMinimum": 1.5, "exclusiveMaximum": 3}}, "required": ["a"]}""")]
    [InlineData("""{"type": "object", "properties": {"a": {"type": "integer", "minimum": -7, "maximum": -7}}, "required": ["a"]}""")]
    [InlineData("""{"type": "object", "properties": {"a": {"type": "number", "minimum": -1e308, "maximum": 1e308}}, "required": ["a"]}""")]
    [InlineData("""{"type": "object", "properties": {"a": {"type": "number", "exclusiveMaximum": -50}}, "required": ["a"]}""")]
    [InlineData("""{"allOf": [{"type": "object", "properties": {"a": {"type": "boolean"}}, "required": ["a"]}, {"properties": {"b": {"type": "string"}}, "required": ["b"]}]}""")]
    [InlineData("""{"type": "object", "properties": {"a": {"type": "array", "items": false}}, "required": ["a"]}""")]
    [InlineData("""{"required": ["a"], "properties": {"a": {"allOf": [{"type": "string"}, {"minLength": 3}]}}}""")]
    public void TheAnswerValidates(string schemaText)
    {
        var schema = JsonNode.Parse(schemaText)!.AsObject();
        for (var seed = 0; seed < 20; seed++)
        {
            var answer = OfflineJson.For(schema, new Random(seed));
            Assert.True(JsonSchemaValidator.Validate(answer, schema).Count == 0,
                $"seed {seed}: {answer?.ToJsonString()} against {schemaText}: {string.Join("; ", JsonSchemaValidator.Validate(answer, schema).Select(e => $"{e.Key} {string.Join(", ", e.Value)}"))}");
        }
    }
}
