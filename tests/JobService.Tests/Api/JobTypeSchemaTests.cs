using System.ComponentModel.DataAnnotations;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using JobService.Handlers;
using JobService.Llm;
using JobService.Tests.Infrastructure;

namespace JobService.Tests.Api;

/// <summary>
/// GET /job-types publishes each type's payload schema; POST /jobs must accept exactly what
/// that schema accepts. Checked for every registered type on a table of samples, with the
/// schema as a client receives it over HTTP and the service's own validator.
/// </summary>
public sealed class JobTypeSchemaTests(SqliteApp app) : IClassFixture<SqliteApp>
{
    sealed record Sample(string Payload, bool Accepted, string What);

    static Sample Valid(string payload, string what = "valid") => new(payload, true, what);
    static Sample Invalid(string payload, string what) => new(payload, false, what);
    static string X(int length) => new('x', length);

    /// <summary>Refused for every type: a payload is a JSON object.</summary>
    static readonly Sample[] NotAnObject = [Invalid("[]", "an array"), Invalid("\"fantasy\"", "a string"), Invalid("42", "a number")];

    /// <summary>Per registered type: at least one valid and two invalid payloads. A new type needs its own rows.</summary>
    static readonly Dictionary<string, Sample[]> Samples = new()
    {
        ["echo"] =
        [
            Valid("{}"), Valid("""{"text": "hello"}"""), Valid("""{"text": null}"""), Valid($$"""{"text": "{{X(10_000)}}"}""", "longest text"),
            Invalid("""{"text": 5}""", "wrong type"),
            Invalid("""{"txt": "hello"}""", "unknown field"),
            Invalid($$"""{"text": "{{X(10_001)}}"}""", "text too long"),
        ],
        ["greet"] =
        [
            Valid("""{"name": "Ada"}"""), Valid("""{"name": "Ada", "times": 10, "tags": ["a", "b"]}"""), Valid("""{"name": "Ada", "tags": []}"""),
            Valid($$"""{"name": "{{X(50)}}", "times": 1, "tags": null}""", "longest name"),
            Invalid("{}", "name missing"),
            Invalid("""{"name": null}""", "name null"),
            Invalid("""{"name": ""}""", "name empty"),
            Invalid("""{"name": "   "}""", "name blank: [Required] refuses white space"),
            Invalid($$"""{"name": "{{X(51)}}"}""", "name too long"),
            Invalid("""{"name": "Ada", "times": 0}""", "times below range"),
            Invalid("""{"name": "Ada", "times": 11}""", "times above range"),
            Invalid("""{"name": "Ada", "times": 1.5}""", "times not an integer"),
            Invalid("""{"name": "Ada", "times": "2"}""", "times a string"),
            Invalid("""{"name": "Ada", "times": null}""", "times null"),
            Invalid("""{"name": "Ada", "tags": [1]}""", "tag of the wrong type"),
            Invalid("""{"name": "Ada", "tags": [null]}""", "null tag"),
            Invalid("""{"name": "Ada", "colour": "red"}""", "unknown field"),
        ],
        ["scripted"] =
        [
            Valid("""{"key": "k"}"""), Valid("""{"key": ""}""", "empty key: no [Required]"),
            Invalid("{}", "key missing"),
            Invalid("""{"key": null}""", "key null"),
            Invalid("""{"key": 5}""", "key a number"),
            Invalid("""{"key": "k", "extra": 1}""", "unknown field"),
        ],
        ["text_generation"] =
        [
            Valid("""{"prompt": "A haiku"}"""),
            Valid("""{"messages": [{"role": "system", "content": "Be brief"}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}"""),
            Valid("""{"prompt": "A haiku", "system": "Poet", "model": "m", "provider": "offline", "max_tokens": 200000, "temperature": 2.0}""", "every option at its limit"),
            Valid("""{"prompt": "A haiku", "max_tokens": 1, "temperature": 0, "messages": null}""", "lower limits"),
            Valid($$"""{"prompt": "{{X(200_000)}}"}""", "longest prompt"),
            Invalid("""{"messages": [{"role": "robot", "content": "Hi"}]}""", "role robot"),
            Invalid("""{"messages": [{"role": "user\n", "content": "Hi"}]}""", "role with a trailing newline"),
            Invalid("""{"messages": [{"role": "User", "content": "Hi"}]}""", "role in the wrong case"),
            Invalid("""{"messages": [{"role": " user", "content": "Hi"}]}""", "role with a leading space"),
            Invalid("""{"messages": [{"role": "", "content": "Hi"}]}""", "role empty"),
            Invalid("""{"messages": [{"role": "user"}]}""", "content missing"),
            Invalid("""{"messages": [{"role": "user", "content": "  "}]}""", "content blank"),
            Invalid($$"""{"messages": [{"role": "user", "content": "{{X(200_001)}}"}]}""", "content too long"),
            Invalid("""{"messages": [{"role": "user", "content": "Hi", "name": "Ada"}]}""", "unknown field in a message"),
            Invalid("""{"messages": [null]}""", "null message"),
            Invalid("""{"messages": [{"role": "user", "content": 5}]}""", "content a number"),
            Invalid("""{"messages": {"role": "user", "content": "Hi"}}""", "messages an object"),
            Invalid("""{"prompt": 5}""", "prompt a number"),
            Invalid($$"""{"prompt": "{{X(200_001)}}"}""", "prompt too long"),
            Invalid($$"""{"prompt": "A haiku", "system": "{{X(50_001)}}"}""", "system too long"),
            Invalid("""{"prompt": "A haiku", "max_tokens": 0}""", "max_tokens below range"),
            Invalid("""{"prompt": "A haiku", "max_tokens": 200001}""", "max_tokens above range"),
            Invalid("""{"prompt": "A haiku", "max_tokens": 10.5}""", "max_tokens not an integer"),
            Invalid("""{"prompt": "A haiku", "temperature": 2.5}""", "temperature above range"),
            Invalid("""{"prompt": "A haiku", "temperature": -0.1}""", "temperature below range"),
            Invalid("""{"prompt": "A haiku", "temperature": "hot"}""", "temperature a string"),
            Invalid("""{"prompt": "A haiku", "promt": "typo"}""", "unknown field"),
        ],
        ["structured_generation"] =
        [
            Valid("""{"instructions": "A city", "schema": {"type": "object"}}"""),
            Valid("""{"instructions": "A city", "schema": {}, "system": "s", "model": "m", "provider": "offline", "max_tokens": 10, "temperature": 1}""", "every option"),
            Valid("""{"instructions": "A city", "schema": {"type": ["object", "null"]}}""", "an object or null"),
            Valid("""{"instructions": "A city", "schema": {"enum": [{"name": "Ys"}, null]}}""", "an enum with an object"),
            Valid("""{"instructions": "A city", "schema": {"allOf": [true, {"type": "object"}, {"required": ["name"]}]}}""", "allOf that allows an object"),
            Valid("""{"instructions": "A city", "schema": {"required": ["l"], "properties": {"l": {"type": "array", "minItems": 1000, "items": {"minLength": 900}}}}}""", "an answer of ~900,000 characters"),
            Invalid("""{"schema": {"type": "object"}}""", "instructions missing"),
            Invalid("""{"instructions": "A city"}""", "schema missing"),
            Invalid("""{"instructions": "  ", "schema": {}}""", "instructions blank"),
            Invalid("""{"instructions": "A city", "schema": null}""", "schema null"),
            Invalid("""{"instructions": "A city", "schema": "object"}""", "schema a string"),
            Invalid("""{"instructions": 5, "schema": {}}""", "instructions a number"),
            Invalid($$"""{"instructions": "A city", "schema": {}, "system": "{{X(50_001)}}"}""", "system too long"),
            Invalid("""{"instructions": "A city", "schema": {}, "max_tokens": 0}""", "max_tokens below range"),
            Invalid("""{"instructions": "A city", "schema": {}, "temperature": 3}""", "temperature above range"),
            Invalid("""{"instructions": "A city", "schema": {}, "format": "json"}""", "unknown field"),
        ],
        ["generate_characters"] =
        [
            Valid("""{"theme": "fantasy"}"""), Valid("""{"theme": "fantasy", "count": 10}"""),
            Valid($$"""{"theme": "{{X(200)}}", "count": 1}""", "longest theme"),
            Valid("""{"theme": "   "}""", "blank theme: the declared schema asks only minLength 1"),
            Invalid("{}", "theme missing"),
            Invalid("""{"theme": ""}""", "theme empty"),
            Invalid($$"""{"theme": "{{X(201)}}"}""", "theme too long"),
            Invalid("""{"theme": 5}""", "theme a number"),
            Invalid("""{"theme": "fantasy", "count": 0}""", "count below range"),
            Invalid("""{"theme": "fantasy", "count": 11}""", "count above range"),
            Invalid("""{"theme": "fantasy", "count": 2.5}""", "count not an integer"),
            Invalid("""{"theme": "fantasy", "count": "3"}""", "count a string"),
            Invalid("""{"theme": "fantasy", "colour": "red"}""", "unknown field"),
        ],
        ["create_world"] =
        [
            Valid("""{"theme": "steampunk"}"""),
            Invalid("{}", "theme missing"),
            Invalid("""{"theme": ""}""", "theme empty"),
            Invalid($$"""{"theme": "{{X(201)}}"}""", "theme too long"),
            Invalid("""{"theme": null}""", "theme null"),
            Invalid("""{"theme": "steampunk", "count": 3}""", "unknown field"),
        ],
    };

    async Task<Dictionary<string, JsonObject>> PublishedSchemasAsync()
    {
        var types = await app.CreateClient().GetFromJsonAsync<JsonElement>("/job-types");
        return types.EnumerateArray().ToDictionary(
            t => t.GetProperty("type").GetString()!,
            t => JsonNode.Parse(t.GetProperty("payload_schema").GetRawText())!.AsObject());
    }

    [Fact]
    public async Task EveryRegisteredTypeHasSamplesAndEverySampledTypeIsRegistered()
    {
        var registered = (await PublishedSchemasAsync()).Keys.Order(StringComparer.Ordinal).ToList();

        Assert.Equal(registered, Samples.Keys.Order(StringComparer.Ordinal));
        foreach (var (type, samples) in Samples)
        {
            Assert.True(samples.Count(s => s.Accepted) >= 1, $"{type} needs a valid sample");
            Assert.True(samples.Count(s => !s.Accepted) >= 2, $"{type} needs two invalid samples");
        }
    }

    [Fact]
    public async Task EveryPublishedSchemaIsOneTheValidatorReadsAndRefusesUnknownFields()
    {
        foreach (var (type, schema) in await PublishedSchemasAsync())
        {
            Assert.True(JsonSchemaValidator.SchemaProblems(schema) is [], $"{type}: {string.Join("; ", JsonSchemaValidator.SchemaProblems(schema))}");
            Assert.Equal(JsonValueKind.False, schema["additionalProperties"]?.GetValueKind()); // a boolean, never "False"
        }
    }

    [Fact]
    public async Task ThePublishedSchemaAcceptsExactlyWhatSubmitAccepts()
    {
        var client = app.CreateClient();
        var failures = new List<string>();
        foreach (var (type, schema) in await PublishedSchemasAsync())
        {
            if (!Samples.ContainsKey(type)) failures.Add($"{type}: registered, but has no samples in the table");
            foreach (var sample in Samples.GetValueOrDefault(type, []).Concat(NotAnObject))
            {
                var schemaErrors = JsonSchemaValidator.Validate(JsonNode.Parse(sample.Payload), schema, "payload");
                var response = await client.PostAsync("/jobs", Http.Json($$"""{"type": "{{type}}", "payload": {{sample.Payload}}}"""));
                var body = await response.Content.ReadAsStringAsync();

                var expected = sample.Accepted ? HttpStatusCode.Created : HttpStatusCode.BadRequest;
                if ((schemaErrors.Count == 0) != sample.Accepted || response.StatusCode != expected || (!sample.Accepted && !NamesAPayloadField(body)))
                    failures.Add($"{type}, {sample.What} {Clip(sample.Payload)}: expected {(sample.Accepted ? "accepted" : "refused")}; " +
                        $"schema {(schemaErrors.Count == 0 ? "accepts" : "refuses: " + JsonSerializer.Serialize(schemaErrors))}; " +
                        $"POST {(int)response.StatusCode} {Clip(body)}");
            }
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    /// <summary>
    /// Rules the schema cannot state are still enforced at submit: rules across fields
    /// (IValidatableObject), a client's schema being a schema, and no NUL anywhere. Pinned here
    /// so that a client knows the published schema is necessary, not always sufficient.
    /// </summary>
    [Theory]
    [InlineData("text_generation", "{}", "payload.prompt")]
    [InlineData("text_generation", """{"prompt": "   "}""", "payload.prompt")]
    [InlineData("text_generation", """{"messages": []}""", "payload.prompt")]
    [InlineData("structured_generation", """{"instructions": "A city", "schema": {"type": "town"}}""", "payload.schema")]
    [InlineData("structured_generation", """{"instructions": "A city", "schema": {"type": "array"}}""", "payload.schema")]
    [InlineData("structured_generation", """{"instructions": "A city", "schema": {"type": ["null"]}}""", "payload.schema")]
    [InlineData("structured_generation", """{"instructions": "A city", "schema": {"enum": [null, "Ys"]}}""", "payload.schema")]
    [InlineData("structured_generation", """{"instructions": "A city", "schema": {"allOf": [{"type": "string"}]}}""", "payload.schema")]
    [InlineData("structured_generation", """{"instructions": "A city", "schema": {"type": "object", "allOf": [false]}}""", "payload.schema")]
    [InlineData("structured_generation", """{"instructions": "A city", "schema": {"type": "object", "properties": {"tone": {"enum": []}}}}""", "payload.schema")]
    [InlineData("structured_generation", """{"instructions": "A city", "schema": {"type": "object", "properties": {"tone": {"type": []}}}}""", "payload.schema")]
    [InlineData("structured_generation", """{"instructions": "A city", "schema": {"type": "object", "properties": {"n": {"type": "integer", "minimum": 5, "maximum": 3}}}}""", "payload.schema")]
    [InlineData("structured_generation", """{"instructions": "A city", "schema": {"type": "object", "properties": {"s": {"minLength": 3, "maxLength": 2}}}}""", "payload.schema")]
    [InlineData("structured_generation", """{"instructions": "A city", "schema": {"type": "object", "properties": {"l": {"type": "array", "minItems": 4, "maxItems": 1}}}}""", "payload.schema")]
    [InlineData("structured_generation", """{"instructions": "A city", "schema": {"type": "object", "properties": {"x": {"type": "number", "exclusiveMinimum": 1, "exclusiveMaximum": 1}}}}""", "payload.schema")]
    [InlineData("structured_generation", """{"instructions": "A city", "schema": {"required": ["l"], "properties": {"l": {"type": "array", "minItems": 1000, "items": {"type": "array", "minItems": 1000}}}}}""", "payload.schema")]
    [InlineData("structured_generation", """{"instructions": "A city", "schema": {"properties": {"l": {"type": "array", "minItems": 1000, "items": {"type": "string", "minLength": 1000}}}}}""", "payload.schema")]
    [InlineData("structured_generation", """{"instructions": "A city", "schema": {"required": ["x"], "additionalProperties": {"type": "array", "minItems": 1000, "items": {"minLength": 100000}}}}""", "payload.schema")]
    [InlineData("structured_generation", """{"instructions": "A city", "schema": {"allOf": [{"properties": {"a": {"type": "array", "minItems": 6, "items": {"minLength": 100000}}}}, {"properties": {"b": {"type": "array", "minItems": 6, "items": {"minLength": 100000}}}}]}}""", "payload.schema")]
    [InlineData("structured_generation", """{"instructions": "A city", "schema": {"required": ["a", "a"]}}""", "payload.schema")]
    [InlineData("structured_generation", """{"instructions": "A city", "schema": {"type": "object", "properties": {"a": {"anyOf": [{"type": "integer"}]}}}}""", "payload.schema")]
    [InlineData("structured_generation", """{"instructions": "A city", "schema": {"type": "object", "properties": {"b": {"const": "fixed"}}}}""", "payload.schema")]
    [InlineData("structured_generation", """{"instructions": "A city", "schema": {"type": "object", "properties": {"c": {"$ref": "#/$defs/missing"}}}}""", "payload.schema")]
    [InlineData("structured_generation", """{"instructions": "A city", "schema": {"type": "object", "items": {"oneOf": [{"type": "string"}]}}}""", "payload.schema")]
    [InlineData("text_generation", """{"prompt": "A haiku", "provider": "nonexistent"}""", "payload.provider")]
    [InlineData("structured_generation", """{"instructions": "A city", "schema": {}, "provider": "Offline"}""", "payload.provider")]
    [InlineData("echo", """{"text": "a\u0000b"}""", "payload")]
    public async Task RulesTheSchemaCannotStateAreStillRefusedAtSubmit(string type, string payload, string field)
    {
        var schema = (await PublishedSchemasAsync())[type];
        Assert.Empty(JsonSchemaValidator.Validate(JsonNode.Parse(payload), schema, "payload"));

        var response = await app.CreateClient().PostAsync("/jobs", Http.Json($$"""{"type": "{{type}}", "payload": {{payload}}}"""));

        var errors = (await response.ShouldBeProblemAsync(HttpStatusCode.BadRequest)).GetProperty("errors");
        Assert.True(errors.TryGetProperty(field, out _), errors.ToString());
    }

    [Fact]
    public async Task TextGenerationPublishesTheRolePatternItEnforces()
    {
        var role = (await PublishedSchemasAsync())["text_generation"]["properties"]!["messages"]!["items"]!["properties"]!["role"]!;

        JsonAssert.Equal("""{"type": "string", "pattern": "^(system|user|assistant)$", "minLength": 1}""", role.ToJsonString());
    }

    [Fact]
    public async Task TheSwaggerDocumentSaysWhatEachJobTypeFieldMeans()
    {
        var document = await app.CreateClient().GetFromJsonAsync<JsonElement>("/swagger/v1/swagger.json");

        var properties = document.GetProperty("components").GetProperty("schemas").GetProperty("JobTypeResponse").GetProperty("properties");
        foreach (var field in properties.EnumerateObject())
            Assert.False(string.IsNullOrWhiteSpace(field.Value.TryGetProperty("description", out var d) ? d.GetString() : null), $"{field.Name} has no description");
        Assert.Contains("0 = no per-type limit", properties.GetProperty("concurrency").GetProperty("description").GetString());
    }

    /// <summary>A 400 for the payload, not for something else in the request.</summary>
    static bool NamesAPayloadField(string problem) =>
        JsonDocument.Parse(problem).RootElement.TryGetProperty("errors", out var errors)
        && errors.EnumerateObject().Any(e => e.Name.StartsWith("payload", StringComparison.Ordinal));

    static string Clip(string text) => text.Length <= 160 ? text : text[..160] + "…";
}

/// <summary>JSON Schema's pattern: ECMA-262, a search, <c>$</c> only at the very end, and bounded in time.</summary>
public sealed class JobTypeSchemaPatternTests
{
    [Theory]
    [InlineData("^(system|user|assistant)$", "user", true)]
    [InlineData("^(system|user|assistant)$", "user\n", false)]
    [InlineData("^(system|user|assistant)$", "robot", false)]
    [InlineData("^(system|user|assistant)$", "users", false)]
    [InlineData("b", "abc", true)] // not anchored unless it says so
    [InlineData(@"^a\$$", "a$", true)]
    [InlineData(@"^a\$$", "a", false)]
    [InlineData("^a[$]$", "a$", true)]
    [InlineData(@"^\d+$", "12", true)]
    [InlineData(@"^\d+$", "١٢", false)] // ECMA's \d is 0-9
    public void APatternMatchesAsEcmaScriptDoes(string pattern, string text, bool matches)
    {
        var errors = JsonSchemaValidator.Validate(JsonValue.Create(text), new JsonObject { ["type"] = "string", ["pattern"] = pattern });

        Assert.Equal(matches, errors.Count == 0);
        if (!matches) Assert.Equal([$"must match the pattern {pattern}"], errors["$"]);
    }

    [Fact]
    public void APatternThatTakesTooLongRefusesTheValueSayingSo()
    {
        var errors = JsonSchemaValidator.Validate(JsonValue.Create(new string('a', 40) + "!"), new JsonObject { ["pattern"] = "^(a|aa)+$" });

        Assert.Equal(["could not be checked: the pattern took too long on it"], errors["$"]);
    }
}

public sealed record AttributeSampleItem(
    [property: Required, RegularExpression("^(a|b)$")] string Kind,
    [property: Range(1, 5)] int Size);

/// <summary>Every attribute PayloadSchema publishes, on one record and a nested one.</summary>
public sealed record AttributeSamplePayload(
    [property: Required, RegularExpression("[a-z]+")] string Slug,
    [property: Required, RegularExpression(@"[\w ]+")] string Title,
    [property: RegularExpression(@"^\d{3}$")] string? Code = null,
    [property: Required] string? Owner = null,
    [property: Range(0.0, 1.0, MinimumIsExclusive = true)] double Share = 0.5,
    [property: Length(1, 3)] string[]? Tags = null,
    [property: MinLength(2), MaxLength(4)] string? Initials = null,
    [property: AllowedValues("red", "green", null)] string? Colour = null,
    AttributeSampleItem[]? Items = null,
    DateTimeOffset? Due = null);

/// <summary>A C# payload's attributes, as published and as enforced at submit, agree on every sample.</summary>
public sealed class JobTypeSchemaAttributeTests
{
    const string Base = """ "slug": "abc", "title": "A b", "owner": "o" """;

    [Fact]
    public void TheAttributesArePublishedAsTheKeywordsThatMeanTheSame()
    {
        var schema = PayloadSchema.For<AttributeSamplePayload>();
        var properties = schema["properties"]!;

        Assert.Equal(["slug", "title", "owner"], schema["required"]!.AsArray().Select(r => r!.GetValue<string>()));
        JsonAssert.Equal("""{"type": "string", "pattern": "^(?:[a-z]+)$", "minLength": 1}""", properties["slug"]!.ToJsonString());
        JsonAssert.Equal($$"""{"type": "string", "pattern": "^(?:[\\w ]+)$", "minLength": 1, "allOf": [{"pattern": {{JsonSerializer.Serialize(PayloadSchema.NotBlank)}}}]}""",
            properties["title"]!.ToJsonString());
        Assert.Equal(@"^$|^\d{3}$", properties["code"]!["pattern"]!.GetValue<string>()); // "" passes [RegularExpression]
        Assert.Equal("string", properties["owner"]!["type"]!.GetValue<string>()); // [Required] with a default: not nullable
        Assert.Equal(0, properties["share"]!["exclusiveMinimum"]!.GetValue<double>());
        Assert.Equal((1, 3), (properties["tags"]!["minItems"]!.GetValue<int>(), properties["tags"]!["maxItems"]!.GetValue<int>()));
        Assert.Equal((2, 4), (properties["initials"]!["minLength"]!.GetValue<int>(), properties["initials"]!["maxLength"]!.GetValue<int>()));
        JsonAssert.Equal("""["red", "green", null]""", properties["colour"]!["enum"]!.ToJsonString());
        // Regression: a time was published as {} (JobJson's own converter hid it from the exporter), so 5 passed a client's check.
        JsonAssert.Equal("""["string", "null"]""", properties["due"]!["type"]!.ToJsonString());
        Assert.Equal("date-time", properties["due"]!["format"]!.GetValue<string>());
    }

    [Theory]
    [InlineData($$"""{{{Base}}}""", true)]
    [InlineData("""{"title": "t", "owner": "o"}""", false)]
    [InlineData("""{"slug": "abc", "title": "t"}""", false)] // owner: [Required] with a default
    [InlineData("""{"slug": "abc", "title": "t", "owner": null}""", false)]
    [InlineData("""{"slug": "abc", "title": "t", "owner": "  "}""", false)]
    [InlineData("""{"slug": "ab1", "title": "t", "owner": "o"}""", false)] // [RegularExpression] matches whole values
    [InlineData("""{"slug": "abc\n", "title": "t", "owner": "o"}""", false)]
    [InlineData("""{"slug": "abc", "title": "   ", "owner": "o"}""", false)] // the pattern allows spaces, [Required] not only spaces
    [InlineData($$"""{{{Base}}, "code": ""}""", true)] // [RegularExpression] lets "" pass
    [InlineData($$"""{{{Base}}, "code": "123"}""", true)]
    [InlineData($$"""{{{Base}}, "code": "12"}""", false)]
    [InlineData($$"""{{{Base}}, "code": "123\n"}""", false)]
    [InlineData($$"""{{{Base}}, "code": "١٢٣"}""", false)] // .NET's \d takes these, the published ECMA one does not: refused
    [InlineData($$"""{{{Base}}, "share": 1}""", true)]
    [InlineData($$"""{{{Base}}, "share": 0}""", false)]
    [InlineData($$"""{{{Base}}, "share": 1.5}""", false)]
    [InlineData($$"""{{{Base}}, "tags": ["a"]}""", true)]
    [InlineData($$"""{{{Base}}, "tags": []}""", false)]
    [InlineData($$"""{{{Base}}, "tags": ["a", "b", "c", "d"]}""", false)]
    [InlineData($$"""{{{Base}}, "tags": ["a", null]}""", false)]
    [InlineData($$"""{{{Base}}, "initials": "AL"}""", true)]
    [InlineData($$"""{{{Base}}, "initials": "A"}""", false)]
    [InlineData($$"""{{{Base}}, "initials": "ABCDE"}""", false)]
    [InlineData($$"""{{{Base}}, "colour": "green"}""", true)]
    [InlineData($$"""{{{Base}}, "colour": null}""", true)]
    [InlineData($$"""{{{Base}}, "colour": "blue"}""", false)]
    [InlineData($$"""{{{Base}}, "items": [{"kind": "a", "size": 5}]}""", true)]
    [InlineData($$"""{{{Base}}, "items": [{"kind": "c", "size": 1}]}""", false)]
    [InlineData($$"""{{{Base}}, "items": [{"kind": "a\n", "size": 1}]}""", false)]
    [InlineData($$"""{{{Base}}, "items": [{"kind": "a", "size": 6}]}""", false)]
    [InlineData($$"""{{{Base}}, "items": [{"kind": "a"}]}""", false)]
    [InlineData($$"""{{{Base}}, "items": [{"kind": "a", "size": 1, "colour": "red"}]}""", false)]
    [InlineData($$"""{{{Base}}, "items": [null]}""", false)]
    [InlineData($$"""{{{Base}}, "due": "2030-01-01T00:00:00Z"}""", true)]
    [InlineData($$"""{{{Base}}, "due": 5}""", false)]
    public void ThePublishedSchemaAndSubmitAgree(string payload, bool accepted)
    {
        var published = JsonNode.Parse(PayloadSchema.For<AttributeSamplePayload>().ToJsonString())!.AsObject(); // as a client reads it

        var schemaErrors = JsonSchemaValidator.Validate(JsonNode.Parse(payload), published, "payload");
        var submitErrors = PayloadValidator.Validate<AttributeSamplePayload>(JsonDocument.Parse(payload).RootElement);

        Assert.True(accepted == (schemaErrors.Count == 0), $"schema: {JsonSerializer.Serialize(schemaErrors)}");
        Assert.True(accepted == (submitErrors.Count == 0), $"submit: {JsonSerializer.Serialize(submitErrors)}");
    }

    /// <summary>
    /// Regression: a payload attribute's message named the C# property ("The field Initials must
    /// be…") and AllowedValues named itself instead of the values ("…specified in AllowedValuesAttribute").
    /// </summary>
    [Theory]
    [InlineData($$"""{{{Base}}, "colour": "blue"}""", "payload.colour", "The colour field must be one of: \"red\", \"green\", null.")]
    [InlineData($$"""{{{Base}}, "initials": "ABCDE"}""", "payload.initials", "initials")]
    public void APayloadRulesMessageNamesTheJsonFieldAndWhatItTakes(string payload, string field, string said)
    {
        var errors = PayloadValidator.Validate<AttributeSamplePayload>(JsonDocument.Parse(payload).RootElement);

        var message = Assert.Single(errors[field]);
        Assert.Contains(said, message);
        Assert.DoesNotContain("Attribute", message);
        Assert.DoesNotContain("Initials", message);
    }
}
