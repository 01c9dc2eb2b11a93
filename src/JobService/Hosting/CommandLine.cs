using Microsoft.Extensions.Configuration.CommandLine;

namespace JobService.Hosting;

/// <summary>
/// The binary's command line: a verb or none (serve), then settings for the host in any form
/// ASP.NET Core reads them (<c>--Database:Provider postgres</c>, <c>/Database:Provider=postgres</c>,
/// <c>Database:Provider=postgres</c>, <c>--urls …</c>), then a verb's own flags.
/// </summary>
public static class CommandLine
{
    public const string Usage = """
        usage: JobService [settings]                      serve the API and the workers (Service:Role says which)
               JobService migrate [settings]              bring the database's schema up to date, then stop
               JobService create-key --tenant <tenant> --scopes <scopes,…> [--name <name>] [settings]
               JobService healthcheck [url]               exit 0 when url answers 200 (default: 127.0.0.1's
                                                          /health/ready at ASPNETCORE_URLS, else HTTP_PORTS, else 8080)
               JobService help
        settings: --Section:Key value, --Section:Key=value or Section:Key=value, for any key of appsettings.json
        """;

    static readonly string[] Verbs = ["migrate", "create-key", "healthcheck", "help"];

    /// <summary>
    /// Why the first word cannot be run, or null. The host ignores a bare word, so a misspelt verb
    /// (<c>migrat</c>, <c>create-keys</c>) would otherwise start the whole service.
    /// </summary>
    public static string? UnknownVerb(string[] args) =>
        args is [var first, ..] && !first.StartsWith('-') && !first.StartsWith('/') && !first.Contains('=') && !Verbs.Contains(first)
            ? $"'{first.Clip(60)}' is not a command; the commands are {string.Join(", ", Verbs)}."
            : null;

    /// <summary>
    /// The words after the verb: its own flags with their values, and the words that are neither
    /// those nor settings for the host. A setting is a name with a section (':') or one the
    /// configuration knows from elsewhere (appsettings, the environment) or the host's own switches.
    /// A flag the verb does not take (<c>migrate --dry-run</c>) must stop it: ignored, it would do
    /// what was not asked for.
    /// </summary>
    public static (Dictionary<string, string> Own, List<string> Unknown) Read(string[] args, IConfiguration configuration, params string[] ownFlags)
    {
        var elsewhere = ((IConfigurationRoot)configuration).Providers.Where(p => p is not CommandLineConfigurationProvider)
            .SelectMany(p => p.GetChildKeys([], null)).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var (own, unknown) = (new Dictionary<string, string>(), new List<string>());
        for (var i = 1; i < args.Length; i++)
        {
            var word = args[i];
            var switched = word.StartsWith("--") ? word[2..] : word.StartsWith('/') ? word[1..] : null;
            var name = (switched ?? word).Split('=')[0];
            var value = switched is not null && !word.Contains('=') && i + 1 < args.Length && !args[i + 1].StartsWith("--") ? args[++i] : null;
            if (word.StartsWith("--") && ownFlags.Contains(switched)) { if (value is not null) own[switched!] = value; }
            else if (!((switched is not null || word.Contains('=')) && (name.Contains(':') || elsewhere.Contains(name) || IsHostSwitch(name)))) unknown.Add(word);
        }
        return (own, unknown);
    }

    /// <summary>Writes what is wrong and the usage to stderr; the exit code for a wrong command line.</summary>
    public static int Refuse(IEnumerable<string> wrong)
    {
        foreach (var line in wrong) Console.Error.WriteLine(line);
        Console.Error.WriteLine(Usage);
        return 2;
    }

    static bool IsHostSwitch(string name) =>
        new[] { "urls", "environment", "contentRoot", "applicationName" }.Contains(name, StringComparer.OrdinalIgnoreCase);
}
