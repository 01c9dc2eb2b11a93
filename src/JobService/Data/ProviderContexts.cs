using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace JobService.Data;

/// <summary>SQLite: JSON documents are TEXT, times are ISO text, ids are text.</summary>
public sealed class SqliteJobsDbContext(DbContextOptions<SqliteJobsDbContext> options) : JobsDbContext(options);

/// <summary>PostgreSQL: <c>uuid</c>, <c>timestamptz</c>, and <c>jsonb</c> for the JSON documents.</summary>
public sealed class PostgresJobsDbContext(DbContextOptions<PostgresJobsDbContext> options) : JobsDbContext(options)
{
    protected override void OnModelCreating(ModelBuilder model)
    {
        base.OnModelCreating(model);
        model.Entity<Job>(job =>
        {
            job.Property(j => j.Payload).HasColumnType("jsonb");
            job.Property(j => j.Result).HasColumnType("jsonb");
            job.Property(j => j.UsageDetail).HasColumnType("jsonb");
            job.Property(j => j.Checkpoint).HasColumnType("jsonb");
        });
        model.Entity<JobEvent>(e =>
        {
            e.Property(x => x.Data).HasColumnType("jsonb");
            // GET /events reads events by when each was written on the database's clock (whichever node
            // wrote it, after any row lock its statement waited for), not by created_at, the writing
            // node's clock when its transaction began: a node a few seconds off, or a write that waited
            // for a lock, put events further back than the stream looks back (AllEventsStream). Null in
            // rows written before the column. created_at's index is SQLite's: one process, one clock.
            e.Property<DateTime?>(Events.AllEventsStream.WrittenAt).HasColumnName("written_at").HasDefaultValueSql("clock_timestamp()");
            e.HasIndex(Events.AllEventsStream.WrittenAt).HasDatabaseName("ix_job_events_written_at");
            e.Metadata.RemoveIndex(e.Metadata.FindIndex(e.Metadata.FindProperty(nameof(JobEvent.CreatedAt))!)!);
        });
        DashboardTables.ConfigurePostgres(model);
    }
}

/// <summary>
/// What <c>dotnet ef migrations add … --context SqliteJobsDbContext</c> builds the model with:
/// no connection is opened to write a migration.
/// </summary>
public sealed class SqliteDesignTimeFactory : IDesignTimeDbContextFactory<SqliteJobsDbContext>
{
    public SqliteJobsDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<SqliteJobsDbContext>().UseSqlite(DatabaseSetup.DefaultSqliteConnection).Options);
}

public sealed class PostgresDesignTimeFactory : IDesignTimeDbContextFactory<PostgresJobsDbContext>
{
    public PostgresJobsDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<PostgresJobsDbContext>().UseNpgsql("Host=localhost;Database=jobs").Options);
}
