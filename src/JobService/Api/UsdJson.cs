using System.Text.Json;
using System.Text.Json.Serialization;

namespace JobService.Api;

/// <summary>
/// A USD amount as the API writes it: rounded to 10 decimal places. Prices times token counts,
/// and sums of those, carry binary noise that no price has (0.051000000000000004, 0.1 + 0.2);
/// 10 places keep a millionth of a cent of a single token exact.
/// </summary>
public sealed class UsdJson : JsonConverter<double>
{
    public static double Round(double usd) => Math.Round(usd, 10);

    public override double Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => reader.GetDouble();

    public override void Write(Utf8JsonWriter writer, double value, JsonSerializerOptions options) => writer.WriteNumberValue(Round(value));
}
