using JobService.Tests.Infrastructure;
using JobService.Transitions;
using Microsoft.Data.Sqlite;

namespace JobService.Tests.Data;

/// <summary>SQLite's times are text; the column reader every hand-written read uses reads them in EF Core's format, and any other as before.</summary>
public sealed class SqliteTimeTests : IDisposable
{
    readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task TimesStoredAsTextReadBackToTheTickAsUtcInEveryShapeSqliteHolds()
    {
        await using var connection = new SqliteConnection($"Data Source={_temp.NewDatabase("times")}");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        // EF Core's own text (seven digits, or fewer, or none), and a shape only the general reading takes.
        command.CommandText = "SELECT '2026-12-07 00:36:13.4456371', '2026-12-07 00:36:11.381249', '2026-12-07 00:36:11', '2026-12-07T00:36:11.5'";
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());

        var times = Enumerable.Range(0, 4).Select(i => JobRow.Utc(reader, i)).ToList();

        Assert.Equal(new DateTime(2026, 12, 7, 0, 36, 13, DateTimeKind.Utc).AddTicks(4_456_371), times[0]);
        Assert.Equal(new DateTime(2026, 12, 7, 0, 36, 11, DateTimeKind.Utc).AddTicks(3_812_490), times[1]);
        Assert.Equal(new DateTime(2026, 12, 7, 0, 36, 11, DateTimeKind.Utc), times[2]);
        Assert.Equal(new DateTime(2026, 12, 7, 0, 36, 11, 500, DateTimeKind.Utc), times[3]);
        Assert.All(times, t => Assert.Equal(DateTimeKind.Utc, t.Kind));
    }
}
