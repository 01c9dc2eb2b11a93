using System.Text.Json;
using System.Text.Json.Nodes;
using JobService.Llm;

namespace JobService.Tests.Llm;

/// <summary>Each keyword the validator reads, with the words and paths a client is shown.</summary>
public class JsonSchemaValidatorTests
{
    [Theory]
    [InlineData("""{"type": "integer"}""", "1.0", """{"$": ["must be of type integer, not number"]}""")]
    [InlineData("""{"type": "integer"}""", "1e3", """{"$": ["must be of type integer, not number"]}""")]
    [InlineData("""{"type": "number"}""", "3", "{}")]
    [InlineData("""{"type": ["string", "null"]}""", "null", "{}")]
    [InlineData("""{"type": ["string", "null"]}""", "true", """{"$": ["must be of type string or null, not boolean"]}""")]
    [InlineData("""{"enum": ["a", 1, null]}""", "\"b\"", """{"$": ["must be one of [\"a\",1,null]"]}""")]
    [InlineData("""{"enum": ["a", 1, null]}""", "null", "{}")]
    [InlineData("""{"enum": [{"k": [1, 2]}]}""", """{"k": [1, 2]}""", "{}")]
    [InlineData("""{"type": "object", "properties": {"a": {"type": "string", "maxLength": 2}}, "required": ["a", "b"], "additionalProperties": false}""",
        """{"a": "xyz", "c": 1}""", """{"$.b": ["is required"], "$.a": ["must be at most 2 characters"], "$.c": ["is not a known field"]}""")]
    [InlineData("""{"additionalProperties": {"type": "integer"}, "properties": {"s": {}}}""", """{"s": "ok", "x": "no"}""",
        """{"$.x": ["must be of type integer, not string"]}""")]
    [InlineData("""{"items": false}""", "[1]", """{"$[0]": ["is not allowed"]}""")]
    [InlineData("""{"type": "array", "minItems": 2, "maxItems": 3, "items": {"minimum": 0}}""", "[-1]",
        """{"$": ["must have at least 2 items"], "$[0]": ["must be at least 0"]}""")]
    [InlineData("""{"type": "array", "maxItems": 1, "items": {"type": "array", "items": {"type": "boolean"}}}""", "[[true], [false, 0]]",
        """{"$": ["must have at most 1 items"], "$[1][1]": ["must be of type boolean, not integer"]}""")]
    [InlineData("""{"allOf": [{"minimum": 5}, {"exclusiveMaximum": 10}]}""", "10", """{"$": ["must be less than 10"]}""")]
    [InlineData("""{"allOf": [{"minimum": 5}, {"exclusiveMaximum": 10}]}""", "4.5", """{"$": ["must be at least 5"]}""")]
    [InlineData("""{"exclusiveMinimum": 0, "maximum": 1}""", "0", """{"$": ["must be more than 0"]}""")]
    [InlineData("""{"maximum": 1}""", "1e400", """{"$": ["must be at most 1"]}""")] // beyond double: still above the bound
    [InlineData("""{"minLength": 2, "pattern": "^\\d+$"}""", "\"x\"", """{"$": ["must be at least 2 characters", "must match the pattern ^\\d+$"]}""")]
    [InlineData("""{"pattern": "^\\d+$"}""", "\"١٢\"", """{"$": ["must match the pattern ^\\d+$"]}""")] // ECMA's \d is 0-9 only
    // Regression: lengths counted UTF-16 units, so an emoji was two characters where JSON Schema (and a client's validator) counts one.
    [InlineData("""{"maxLength": 3}""", "\"😀😀😀\"", "{}")]
    [InlineData("""{"minLength": 3}""", "\"😀😀\"", """{"$": ["must be at least 3 characters"]}""")]
    [InlineData("false", "{}", """{"$": ["is not allowed"]}""")]
    [InlineData("true", "{}", "{}")]
    public void EachKeywordSaysWhatIsWrongWhere(string schema, string value, string expected)
    {
        var schemaNode = JsonNode.Parse(schema);
        var errors = schemaNode is JsonObject o
            ? JsonSchemaValidator.Validate(JsonNode.Parse(value), o, "$")
            : JsonSchemaValidator.ValidateChecked(JsonDocument.Parse(value).RootElement, JsonSchemaValidator.Compile(schemaNode!), "$");

        Assert.Equal(JsonSerializer.Serialize(JsonSerializer.Deserialize<Dictionary<string, string[]>>(expected)), JsonSerializer.Serialize(errors));
    }

    [Fact]
    public void APayloadIsCheckedWhereItLiesAgainstTheCompiledSchema()
    {
        var compiled = JsonSchemaValidator.Compile(JsonNode.Parse("""{"type": "object", "properties": {"n": {"type": "integer"}}}""")!);
        var payload = JsonDocument.Parse("""{"n": "7"}""").RootElement;

        Assert.Equal(["must be of type integer, not string"], JsonSchemaValidator.ValidateChecked(payload, compiled, "payload")["payload.n"]);
        Assert.Empty(JsonSchemaValidator.ValidateChecked(JsonDocument.Parse("""{"n": 7}""").RootElement, compiled, "payload"));
    }

    [Fact]
    public void AnAnswerWithADuplicateKeyIsSaidToBeUncheckable()
    {
        var errors = JsonSchemaValidator.Validate(JsonNode.Parse("""{"a": 1, "a": 2}"""), new JsonObject { ["type"] = "object" });

        Assert.StartsWith("could not be checked: ", Assert.Single(errors["$"]));
    }
}
