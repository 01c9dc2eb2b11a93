using System.Diagnostics;
using System.Text.Json.Nodes;
using JobService.Data;
using JobService.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Microsoft.Extensions.DependencyInjection;

namespace JobService.Tests.Data;

/// <summary>
/// The hand-written migrations and snapshot must match the model on each provider, and
/// applying them must be repeatable. Each test takes a fresh, empty database.
/// </summary>
public abstract class MigrationContract
{
    protected abstract Task<TestDatabase?> CreateDatabaseAsync();

    async Task<(TestDatabase Db, ServiceProvider Services)> EmptyDatabaseAsync()
    {
        var database = await CreateDatabaseAsync();
        if (database is null) Assert.Skip(TestDatabaseSkip);
        var services = new ServiceCollection().AddScoped(_ => database.CreateContext()).BuildServiceProvider();
        return (database, services);
    }

    protected virtual string TestDatabaseSkip => "";

    [Fact]
    public async Task TheModelHasNoChangesMissingFromTheMigrations()
    {
        var (database, services) = await EmptyDatabaseAsync();
        await using var _ = database;
        await using var __ = services;
        var db = services.GetRequiredService<JobsDbContext>();

        Assert.False(db.Database.HasPendingModelChanges(),
            "The model differs from the provider's model snapshot: run bash migrations/add.sh <Name>.");
    }

    /// <summary>The start-up's check lists the migrations without EF Core: the same ones, in the same order.</summary>
    [Fact]
    public async Task TheStartUpsListOfMigrationsIsEfCoresOwn()
    {
        var (database, services) = await EmptyDatabaseAsync();
        await using var _ = database;
        await using var __ = services;
        var db = services.GetRequiredService<JobsDbContext>();

        Assert.NotEmpty(db.Database.GetMigrations());
        Assert.Equal(db.Database.GetMigrations(), JobService.Hosting.Migrations.Compiled(db.GetType()));
    }

    [Fact]
    public async Task TheCompiledModelMatchesTheModel()
    {
        var (database, services) = await EmptyDatabaseAsync();
        await using var _ = database;
        await using var __ = services;
        var db = services.GetRequiredService<JobsDbContext>();

        // db.Model is the compiled model (Data/CompiledModels); the design-time model is built from OnModelCreating.
        Assert.StartsWith("JobService.Data.CompiledModels.", db.Model.GetType().FullName);
        var built = db.GetService<Microsoft.EntityFrameworkCore.Metadata.IDesignTimeModel>().Model;
        Assert.True(Shape(built).SequenceEqual(Shape(db.Model)),
            "The compiled model differs from the model: run bash migrations/add.sh <Name> (it regenerates both).\n" +
            $"built:\n{string.Join("\n", Shape(built).Except(Shape(db.Model)))}\ncompiled:\n{string.Join("\n", Shape(db.Model).Except(Shape(built)))}");
    }

    /// <summary>
    /// Every table, column (store type, nullability, default, CLR type, value generation, converter), key and
    /// foreign key, one line each, sorted: what the compiled model keeps of the relational shape.
    /// </summary>
    static List<string> Shape(Microsoft.EntityFrameworkCore.Metadata.IModel model) =>
        model.GetRelationalModel().Tables.SelectMany(t =>
                t.Columns.Select(c => $"{t.Name}.{c.Name} {c.StoreType} null={c.IsNullable} default={c.DefaultValue ?? c.DefaultValueSql} " +
                    string.Join(",", c.PropertyMappings.Select(m =>
                        $"{m.Property.ClrType.Name}/{m.Property.ValueGenerated}/{m.Property.GetValueConverter()?.GetType().FullName}")))
                .Append($"{t.Name} key ({string.Join(", ", t.PrimaryKey?.Columns.Select(c => c.Name) ?? [])})")
                .Concat(t.ForeignKeyConstraints.Select(f => $"{t.Name} fk {f.Name} ({string.Join(", ", f.Columns.Select(c => c.Name))}) {f.OnDeleteAction}")))
            .Order().ToList();

    [Fact]
    public async Task MigratingAnEmptyDatabaseTwiceIsANoOpTheSecondTime()
    {
        var (database, services) = await EmptyDatabaseAsync();
        await using var _ = database;
        await using var __ = services;
        var db = services.GetRequiredService<JobsDbContext>();

        Assert.NotEmpty(await db.Database.GetPendingMigrationsAsync());
        // No history table yet: the start-up's plain check cannot tell, and leaves it to EF Core.
        Assert.Null(await JobService.Hosting.Migrations.PendingFromHistoryAsync(database.CreateConnections(), Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, default));
        await db.Database.MigrateAsync();
        var applied = (await db.Database.GetAppliedMigrationsAsync()).ToList();
        var id = Guid.CreateVersion7();
        db.Jobs.Add(new Job { Id = id, Type = "echo", Payload = "{}", CreatedAt = DateTime.UtcNow, UpdatedAt = DateTime.UtcNow, RunAt = DateTime.UtcNow });
        await db.SaveChangesAsync();

        await db.Database.MigrateAsync();

        Assert.Empty(await db.Database.GetPendingMigrationsAsync());
        Assert.Equal(applied, await db.Database.GetAppliedMigrationsAsync());
        Assert.Empty(db.GetService<IMigrator>().GenerateScript(applied[^1]).Trim()); // nothing left to apply
        Assert.True(await db.Jobs.AnyAsync(j => j.Id == id), "a second migrate must not touch existing rows");
    }

    /// <summary>
    /// A key stored twice before key_hash was unique (two instances storing the bootstrap key at
    /// once) is one row after the migration: the oldest, revoked when any copy was, so that a
    /// revoke made on either copy holds.
    /// </summary>
    [Fact]
    public async Task KeysStoredTwiceBeforeTheirHashWasUniqueBecomeOneRowRevokedIfAnyCopyWas()
    {
        var (database, services) = await EmptyDatabaseAsync();
        await using var _ = database;
        await using var __ = services;
        var db = services.GetRequiredService<JobsDbContext>();
        var all = db.Database.GetMigrations().ToList();
        var unique = all.FindIndex(m => m.EndsWith("_ApiKeyHashUnique", StringComparison.Ordinal));
        await db.GetService<IMigrator>().MigrateAsync(all[unique - 1]);
        var t0 = new DateTime(2026, 12, 1, 8, 0, 0, DateTimeKind.Utc);
        ApiKey Key(string hash, int minutes, DateTime? revoked = null) => new()
        {
            Id = Guid.CreateVersion7(), TenantId = "default", Name = "bootstrap", Prefix = "jsk_abcdefgh", KeyHash = hash, Scopes = "admin",
            CreatedAt = t0.AddMinutes(minutes), RevokedAt = revoked,
        };
        var oldest = Key(new string('a', 64), 0);
        var other = Key(new string('b', 64), 0);
        db.ApiKeys.AddRange(oldest, Key(new string('a', 64), 1, revoked: t0.AddHours(1)), Key(new string('a', 64), 2), other);
        await db.SaveChangesAsync();
        db.ChangeTracker.Clear();

        await db.Database.MigrateAsync();

        var rows = await db.ApiKeys.AsNoTracking().OrderBy(k => k.KeyHash).ToListAsync();
        Assert.Equal([oldest.Id, other.Id], rows.Select(k => k.Id));
        Assert.Equal(t0.AddHours(1), rows[0].RevokedAt);
        Assert.Null(rows[1].RevokedAt);
        db.ApiKeys.Add(Key(new string('b', 64), 5));
        await Assert.ThrowsAsync<DbUpdateException>(() => db.SaveChangesAsync()); // and no second row of a key from now on
    }

    /// <summary>
    /// A database made by the migration set of 2026-11 (hand-written, one set for both providers;
    /// its SQL is kept in Data/Schemas) with rows in it upgrades in place and loses nothing.
    /// </summary>
    [Fact]
    public async Task ADatabaseFromTheNovemberMigrationsUpgradesInPlaceKeepingItsRows()
    {
        var (database, services) = await EmptyDatabaseAsync();
        await using var _ = database;
        await using var __ = services;
        var db = services.GetRequiredService<JobsDbContext>();
        var script = await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "Data", "Schemas", $"2026-11-initial.{database.Provider}.sql"));
        await db.Database.ExecuteSqlRawAsync(script);
        var id = Guid.CreateVersion7();
        const string payload = """{"text": "kept", "n": 1.50, "nested": {"a": [1, 2]}}""";
        var created = new DateTime(2026, 11, 20, 8, 30, 0, DateTimeKind.Utc);
        await db.Database.ExecuteSqlAsync($"""
            INSERT INTO jobs (id, type, status, progress, message, payload, result, priority, attempt, max_attempts, run_at,
                cancel_requested, created_at, updated_at, completed_at, prompt_tokens, completion_tokens, total_tokens, cost_usd, idempotency_key)
            VALUES ({id}, 'echo', 'completed', 100, 'Completed', {payload}, {"""{"text":"kept"}"""}, 3, 1, 3, {created},
                {false}, {created}, {created}, {created}, 10, 20, 30, {0.25}, 'key-1')
            """);
        await db.Database.ExecuteSqlAsync($"INSERT INTO job_logs (job_id, time, level, message, attempt) VALUES ({id}, {created}, 'info', 'a line', 1)");
        Assert.Equal(["20261123000000_InitialCreate"], await db.Database.GetAppliedMigrationsAsync());
        // The start-up's own check (one plain query) agrees with EF Core's, before and after.
        var log = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        Assert.Equal(await db.Database.GetPendingMigrationsAsync(), await JobService.Hosting.Migrations.PendingFromHistoryAsync(database.CreateConnections(), log, default));

        await db.Database.MigrateAsync();

        Assert.Empty(await db.Database.GetPendingMigrationsAsync());
        Assert.Equal([], await JobService.Hosting.Migrations.PendingFromHistoryAsync(database.CreateConnections(), log, default));
        Assert.False(db.Database.HasPendingModelChanges());
        var job = await db.Jobs.AsNoTracking().SingleAsync(j => j.Id == id);
        Assert.Equal(("echo", JobStatus.Completed, 100, 3, 30, 0.25, "key-1", created), (job.Type, job.Status, job.Progress, job.Priority, job.TotalTokens, job.CostUsd, job.IdempotencyKey, job.CreatedAt));
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(payload), JsonNode.Parse(job.Payload)), job.Payload);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"text":"kept"}"""), JsonNode.Parse(job.Result!)), job.Result);
        await AssertLogsKeptAsync(db, id);
    }

    /// <summary>The November job_logs row is now the job's first log event, and the job's event seq counts it.</summary>
    static async Task AssertLogsKeptAsync(JobsDbContext db, Guid id)
    {
        var line = Assert.Single(await db.JobEvents.Where(e => e.JobId == id).ToListAsync());
        Assert.Equal((1L, "log", "info", "a line", 1), (line.Seq, line.Kind, line.Level, line.Message, JobService.Events.EventJson.LogLine(line).Attempt));
        Assert.Equal(1, (await db.Jobs.SingleAsync(j => j.Id == id)).EventSeq);
    }

    /// <summary>Regression: a database migrated by a newer version (a binary rolled back) was "up to date", without a word.</summary>
    [Fact]
    public async Task ADatabaseWithAMigrationThisBinaryDoesNotKnowIsSaidSo()
    {
        var (database, services) = await EmptyDatabaseAsync();
        await using var _ = database;
        await using var __ = services;
        var db = services.GetRequiredService<JobsDbContext>();
        await db.Database.MigrateAsync(TestContext.Current.CancellationToken);
        await db.Database.ExecuteSqlRawAsync(
            "INSERT INTO \"__EFMigrationsHistory\" (\"MigrationId\", \"ProductVersion\") VALUES ('20991231000000_FromTheFuture', '10.0.0')",
            TestContext.Current.CancellationToken);
        var log = new Lines();

        var pending = await JobService.Hosting.Migrations.PendingFromHistoryAsync(database.CreateConnections(), log, TestContext.Current.CancellationToken);

        Assert.Equal([], pending);
        var warning = Assert.Single(log.All, r => r.Level == Microsoft.Extensions.Logging.LogLevel.Warning);
        Assert.Contains("20991231000000_FromTheFuture", warning.Message);
    }

    /// <summary>What was logged, level and message.</summary>
    sealed class Lines : Microsoft.Extensions.Logging.ILogger
    {
        public List<(Microsoft.Extensions.Logging.LogLevel Level, string Message)> All { get; } = [];
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel level) => true;
        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel level, Microsoft.Extensions.Logging.EventId id, TState state, Exception? exception,
            Func<TState, Exception?, string> formatter) => All.Add((level, formatter(state, exception)));
    }

    [Fact]
    public async Task TheMigrateVerbMigratesAndExitsWithoutServing()
    {
        var (database, services) = await EmptyDatabaseAsync();
        await using var _ = database;
        await using var __ = services;

        var start = new ProcessStartInfo("dotnet", [typeof(Program).Assembly.Location, "migrate"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            Environment =
            {
                ["Database__Provider"] = database.Provider,
                ["ConnectionStrings__Jobs"] = database.ConnectionString,
            },
        };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(cts.Token);

        var printed = await output + await process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        Assert.True(process.ExitCode == 0, printed);
        Assert.Matches(@"Applying \d+ migration\(s\)", printed);
        Assert.DoesNotContain("does not know", printed);
        // A first start on an empty database is not an error (EF Core used to log the missing history table as one).
        Assert.DoesNotContain(" ERR]", printed);
        Assert.DoesNotContain("Failed executing DbCommand", printed);
        var db = services.GetRequiredService<JobsDbContext>();
        Assert.Empty(await db.Database.GetPendingMigrationsAsync(TestContext.Current.CancellationToken));
    }
}

public sealed class SqliteMigrationTests : MigrationContract
{
    protected override Task<TestDatabase?> CreateDatabaseAsync() => Task.FromResult<TestDatabase?>(TestDatabase.Sqlite());
}

public sealed class PostgresMigrationTests : MigrationContract
{
    string _reason = "";
    protected override string TestDatabaseSkip => _reason;

    protected override async Task<TestDatabase?> CreateDatabaseAsync()
    {
        var server = TestDatabase.PostgresServer(out _reason);
        return server is null ? null : await TestDatabase.PostgresAsync(server);
    }

    [Fact]
    public async Task JsonDocumentsAreJsonbAndTimesAreTimestamptz()
    {
        await using var database = await CreateDatabaseAsync();
        if (database is null) Assert.Skip(TestDatabaseSkip);
        await using var db = database.CreateContext();
        await db.Database.MigrateAsync();

        var types = await db.Database.SqlQuery<ColumnType>($"""
            SELECT column_name AS "Name", data_type AS "Type" FROM information_schema.columns
            WHERE table_name = 'jobs' AND column_name IN ('id', 'payload', 'result', 'created_at') ORDER BY column_name
            """).ToListAsync();

        Assert.Equal(
            [new("created_at", "timestamp with time zone"), new("id", "uuid"), new("payload", "jsonb"), new("result", "jsonb")],
            types);
    }

    public sealed record ColumnType(string Name, string Type);
}
