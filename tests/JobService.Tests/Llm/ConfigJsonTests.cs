using System.Text;
using System.Text.Json.Nodes;
using JobService.Llm;
using JobService.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace JobService.Tests.Llm;

/// <summary>Templates and schemas of declared job types, as configuration turns them into prompts and JSON.</summary>
public sealed class ConfigJsonTests
{
    static readonly Dictionary<string, JsonNode?> Values = new()
    {
        ["theme"] = "{steps.setting}", // a user's payload that looks like a placeholder
        ["count"] = 3,
        ["steps.setting"] = new JsonObject { ["name"] = "Aster" },
    };

    [Fact]
    public void FillReplacesEachPlaceholderOnceAndNeverExpandsWhatItInserted()
    {
        Assert.Equal("Theme {steps.setting}, 3 of them, in {\"name\":\"Aster\"}; {unknown} stays",
            ConfigJson.Fill("Theme {theme}, {count} of them, in {steps.setting}; {unknown} stays", Values));
    }

    [Fact]
    public void FillJsonPutsAQuotedPlaceholdersValueAndEscapesTextInsideStrings()
    {
        var schema = JsonNode.Parse(ConfigJson.FillJson("""{"minItems": "{count}", "description": "about {theme} \"{steps.setting}\""}""", Values))!;

        Assert.Equal(3, schema["minItems"]!.GetValue<int>());
        Assert.Equal("about {steps.setting} \"{\"name\":\"Aster\"}\"", schema["description"]!.GetValue<string>());
    }

    [Fact]
    public void OnlyJsonNumberLiteralsInConfigurationBecomeNumbers()
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["S:int"] = "3", ["S:real"] = "1.5", ["S:exp"] = "2e3", ["S:negative"] = "-4",
            ["S:zeros"] = "007", ["S:nan"] = "NaN", ["S:inf"] = "Infinity", ["S:plus"] = "+1", ["S:flag"] = "true",
        }).Build();

        var json = ConfigJson.ToObject(config.GetSection("S"))!;

        Assert.Equal("""{"exp":2e3,"flag":true,"inf":"Infinity","int":3,"nan":"NaN","negative":-4,"plus":"\u002B1","real":1.5,"zeros":"007"}""", json.ToJsonString());
    }

    [Fact]
    public void BooleansOfAJsonSettingsFileStayBooleans()
    {
        // The JSON file provider stores false as "False": the schema must still say false.
        var config = new ConfigurationBuilder().AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(
            """{"S": {"type": "object", "additionalProperties": false, "properties": {"theme": {"type": "string"}}, "nullable": true}}"""))).Build();
        Assert.Equal("False", config["S:additionalProperties"]);

        var schema = ConfigJson.ToObject(config.GetSection("S"))!;

        JsonAssert.Equal("""{"type": "object", "additionalProperties": false, "properties": {"theme": {"type": "string"}}, "nullable": true}""", schema.ToJsonString());
        Assert.Empty(JsonSchemaValidator.SchemaProblems(schema));
        var errors = JsonSchemaValidator.Validate(JsonNode.Parse("""{"theme": "fantasy", "colour": "red"}"""), schema, "payload");
        Assert.Equal(["is not a known field"], Assert.Single(errors, e => e.Key == "payload.colour").Value);
        Assert.Single(errors);
    }

    [Theory]
    [InlineData("""{"type": "object", "additionalProperties": "False"}""", "schema.additionalProperties must be a schema")]
    [InlineData("""{"type": "object", "properties": {"count": {"type": "integer", "minimum": "1"}}}""", "schema.properties.count.minimum must be a number")]
    [InlineData("""{"type": "object", "properties": {"role": {"type": "string", "pattern": "(user"}}}""", "schema.properties.role.pattern is not a regular expression")]
    [InlineData("""{"type": "object", "properties": {"tags": {"type": "array", "items": {"maxLength": -1}}}}""", "schema.properties.tags.items.maxLength must be a whole number")]
    public void AMalformedKeywordIsReportedAsASchemaProblemNeverAsAnErrorOfTheValue(string schema, string problem)
    {
        var errors = JsonSchemaValidator.Validate(JsonNode.Parse("""{"count": 2, "role": "user", "tags": ["a"], "extra": 1}"""), JsonNode.Parse(schema)!.AsObject(), "payload");

        var (field, messages) = Assert.Single(errors);
        Assert.Equal("payload", field);
        var message = Assert.Single(messages);
        Assert.StartsWith("could not be checked: the schema is invalid: " + problem, message);
        Assert.DoesNotContain("System.", message); // never .NET's words about a conversion
    }

    [Fact]
    public void ADeclaredTypeWhosePayloadSchemaCannotBeReadStopsTheStartUpNamingIt()
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Llm:Types:tale:Prompt"] = "A tale of {theme}",
            ["Llm:Types:tale:PayloadSchema:type"] = "object",
            ["Llm:Types:tale:PayloadSchema:additionalProperties"] = "no",
        }).Build();

        var e = Assert.Throws<JobService.Hosting.StartupRefusedException>(() => DeclaredType.FromConfiguration(config).ToList());

        Assert.Equal("Llm:Types:tale: PayloadSchema.additionalProperties must be a schema: a JSON object, true or false.", e.Message);
    }

    /// <summary>A keyword the validator does not check would let through what its author meant to refuse: it stops the start-up instead.</summary>
    [Fact]
    public void ADeclaredPayloadSchemaWithAKeywordNotCheckedStopsTheStartUpNamingIt()
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Llm:Types:tale:Prompt"] = "A tale of {theme}",
            ["Llm:Types:tale:PayloadSchema:type"] = "object",
            ["Llm:Types:tale:PayloadSchema:properties:theme:const"] = "sea",
        }).Build();

        var e = Assert.Throws<JobService.Hosting.StartupRefusedException>(() => DeclaredType.FromConfiguration(config).ToList());

        Assert.StartsWith("Llm:Types:tale: PayloadSchema.properties.theme.const is not supported", e.Message);
    }

    /// <summary>Regression: two steps of one name were taken; a retry then took the second as finished by the first, and the result kept one of them.</summary>
    [Fact]
    public void TwoStepsOfOneNameStopTheStartUp()
    {
        var settings = new Dictionary<string, string?>
        {
            ["Llm:Pipelines:saga:Steps:0:Name"] = "draft", ["Llm:Pipelines:saga:Steps:0:Prompt"] = "Draft {theme}",
            ["Llm:Pipelines:saga:Steps:1:Name"] = "draft", ["Llm:Pipelines:saga:Steps:1:Prompt"] = "Again: {steps.draft}",
        };

        var e = Assert.Throws<JobService.Hosting.StartupRefusedException>(() => DeclaredType.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(settings).Build()).ToList());

        Assert.Equal("Llm:Pipelines:saga: two steps are named 'draft'; each step needs a name of its own.", e.Message);
    }

    /// <summary>A declared output schema no answer can meet stops the start-up naming its step, as a payload schema does: not every job failing after its repairs.</summary>
    [Theory]
    [InlineData("Llm:Types:tale:", "type", "array", "Llm:Types:tale: tale's OutputSchema must allow a JSON object at its top")]
    [InlineData("Llm:Types:tale:", "properties:size:minimum", "5", "Llm:Types:tale: tale's OutputSchema.properties.size.minimum (5) is more than")]
    [InlineData("Llm:Types:tale:", "additionalProperties", "no", "Llm:Types:tale: tale's OutputSchema.additionalProperties must be a schema")]
    [InlineData("Llm:Types:tale:", "properties:size:multipleOf", "2", "Llm:Types:tale: tale's OutputSchema.properties.size.multipleOf is not supported")]
    [InlineData("Llm:Pipelines:saga:Steps:0:", "type", "string", "Llm:Pipelines:saga: outline's OutputSchema must allow a JSON object at its top")]
    public void ADeclaredOutputSchemaNoAnswerCanMeetStopsTheStartUpNamingIt(string step, string key, string value, string message)
    {
        var settings = new Dictionary<string, string?>
        {
            [step + "Prompt"] = "A tale of {theme}",
            [step + "OutputSchema:properties:size:maximum"] = "3",
            [step + "OutputSchema:" + key] = value,
        };
        if (step.StartsWith("Llm:Pipelines")) settings[step + "Name"] = "outline";

        var e = Assert.Throws<JobService.Hosting.StartupRefusedException>(() => DeclaredType.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(settings).Build()).ToList());

        Assert.StartsWith(message, e.Message);
    }

    /// <summary>A prompt or an output schema given to a pipeline rather than to a step would be read by nothing: the start-up stops, naming it.</summary>
    [Theory]
    [InlineData("Prompt", "A tale")]
    [InlineData("OutputSchema:type", "object")]
    public void APromptOrOutputSchemaOnAPipelineItselfStopsTheStartUp(string key, string value)
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Llm:Pipelines:saga:" + key] = value,
            ["Llm:Pipelines:saga:Steps:0:Name"] = "outline",
            ["Llm:Pipelines:saga:Steps:0:Prompt"] = "Outline a tale of {theme}",
        }).Build();

        var e = Assert.Throws<JobService.Hosting.StartupRefusedException>(() => DeclaredType.FromConfiguration(config).ToList());

        Assert.Equal("Llm:Pipelines:saga: Prompt and OutputSchema belong to each of its Steps.", e.Message);
    }

    /// <summary>A declared type naming a provider that is not configured stops the start-up (its every job would fail when it ran).</summary>
    [Fact]
    public void ADeclaredTypeNamingAnUnconfiguredProviderStopsTheStartUp()
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Llm:Providers:local:BaseUrl"] = "http://127.0.0.1:8080/v1",
            ["Llm:Types:tale:Prompt"] = "A tale of {theme}",
            ["Llm:Types:tale:Provider"] = "openai",
        }).Build();

        var e = Assert.Throws<JobService.Hosting.StartupRefusedException>(() => new ServiceCollection().AddLlmJobTypes(config));

        Assert.Equal("Declared LLM type 'tale': Unknown LLM provider 'openai'. Configured: local, offline.", e.Message);
    }

    /// <summary>A value that is a whole "{field}", or a list holding one, is the payload's to decide: not judged at start-up (the shipped generate_characters sizes its list so).</summary>
    [Fact]
    public void AWholePlaceholderInAnOutputSchemaIsLeftForThePayload()
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Llm:Types:tale:Prompt"] = "Name {count} heroes",
            ["Llm:Types:tale:OutputSchema:type"] = "object",
            ["Llm:Types:tale:OutputSchema:properties:heroes:type"] = "array",
            ["Llm:Types:tale:OutputSchema:properties:heroes:minItems"] = "{count}",
            ["Llm:Types:tale:OutputSchema:properties:heroes:items:enum:0"] = "{favourite}",
            ["Llm:Types:tale:OutputSchema:properties:heroes:items:enum:1"] = "Ayla",
        }).Build();

        var type = Assert.Single(DeclaredType.FromConfiguration(config));

        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"type": "object", "properties": {"heroes": {"type": "array", "items": {}}}}"""),
            ConfigJson.WithoutWholePlaceholders(type.Steps[0].OutputSchemaTemplate!)));
    }
}
