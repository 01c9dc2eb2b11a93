using System.Globalization;
using System.Text;

namespace JobService.Tests.Observability;

/// <summary>One sample of a scrape: <c>name{label="value",…} value</c>.</summary>
public sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

/// <summary>
/// A scrape of GET /metrics in Prometheus text format (0.0.4), parsed: the samples and each
/// metric family's declared type (<c># TYPE name counter</c>).
/// </summary>
public sealed class PrometheusText
{
    public IReadOnlyList<Sample> Samples { get; }
    public IReadOnlyDictionary<string, string> Types { get; }

    PrometheusText(List<Sample> samples, Dictionary<string, string> types) => (Samples, Types) = (samples, types);

    public static PrometheusText Parse(string text)
    {
        var samples = new List<Sample>();
        var types = new Dictionary<string, string>();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                var parts = line.Split(' ');
                types[parts[2]] = parts[3];
                continue;
            }
            if (line.StartsWith('#')) continue;
            samples.Add(ParseSample(line));
        }
        return new PrometheusText(samples, types);
    }

    /// <summary>The sum over samples named <paramref name="name"/> whose labels include all of <paramref name="labels"/> (0 when none).</summary>
    public double Sum(string name, params (string Key, string Value)[] labels) =>
        Matching(name, labels).Sum(s => s.Value);

    public IEnumerable<Sample> Matching(string name, params (string Key, string Value)[] labels) =>
        Samples.Where(s => s.Name == name && labels.All(l => s.Labels.TryGetValue(l.Key, out var v) && v == l.Value));

    static Sample ParseSample(string line)
    {
        var brace = line.IndexOf('{');
        var space = line.IndexOf(' ');
        var labels = new Dictionary<string, string>();
        string name;
        int rest;
        if (brace >= 0 && brace < space)
        {
            name = line[..brace];
            var i = brace + 1;
            while (line[i] != '}')
            {
                var eq = line.IndexOf('=', i);
                var key = line[i..eq].Trim();
                i = eq + 2; // past ="
                var value = new StringBuilder();
                for (; line[i] != '"'; i++)
                {
                    if (line[i] == '\\') i++; // \" \\ \n: the escaped character (a \n is rare enough to read as n)
                    value.Append(line[i]);
                }
                labels[key] = value.ToString();
                i++; // past the closing quote
                if (line[i] == ',') i++;
            }
            rest = i + 1;
        }
        else
        {
            name = line[..space];
            rest = space;
        }
        var fields = line[rest..].Split(' ', StringSplitOptions.RemoveEmptyEntries); // the value, and maybe a timestamp
        var number = fields[0] switch { "+Inf" => double.PositiveInfinity, "-Inf" => double.NegativeInfinity, var v => double.Parse(v, CultureInfo.InvariantCulture) };
        return new Sample(name, labels, number);
    }
}
