using System.Text.Json.Nodes;
using JobService.Llm;
using Microsoft.Extensions.Configuration;

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
}
