using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;

namespace JobService.Data;

/// <summary>
/// The jobs database. Table, column and index names are spelled out because the hand-written
/// migrations and snapshot (in the top-level migrations/ folder) must match them exactly;
/// column types are left to the provider so one migration set serves SQLite and PostgreSQL.
/// </summary>
public sealed class JobsDbContext(DbContextOptions<JobsDbContext> options) : DbContext(options)
{
    public DbSet<Job> Jobs => Set<Job>();
    public DbSet<JobLog> JobLogs => Set<JobLog>();

    protected override void ConfigureConventions(ModelConfigurationBuilder builder)
    {
        // SQLite hands DateTime back as Unspecified and Npgsql refuses non-UTC values for
        // timestamptz: every time is UTC, in and out.
        builder.Properties<DateTime>().HaveConversion<UtcConverter>();
        builder.Properties<DateTime?>().HaveConversion<UtcConverter>();
    }

    protected override void OnModelCreating(ModelBuilder model)
    {
        model.Entity<Job>(job =>
        {
            job.ToTable("jobs");
            job.HasKey(j => j.Id).HasName("pk_jobs");
            job.Property(j => j.Id).HasColumnName("id").ValueGeneratedNever();
            job.Property(j => j.Type).HasColumnName("type").HasMaxLength(100);
            job.Property(j => j.Status).HasColumnName("status").HasMaxLength(16)
                .HasConversion(s => s.ToName(), s => Parse(s));
            job.Property(j => j.Progress).HasColumnName("progress");
            job.Property(j => j.Message).HasColumnName("message").HasMaxLength(500);
            job.Property(j => j.Payload).HasColumnName("payload");
            job.Property(j => j.Result).HasColumnName("result");
            job.Property(j => j.Error).HasColumnName("error");
            job.Property(j => j.Priority).HasColumnName("priority");
            job.Property(j => j.Attempt).HasColumnName("attempt");
            job.Property(j => j.MaxAttempts).HasColumnName("max_attempts");
            job.Property(j => j.RunAt).HasColumnName("run_at");
            job.Property(j => j.CancelRequested).HasColumnName("cancel_requested");
            job.Property(j => j.CallbackUrl).HasColumnName("callback_url").HasMaxLength(2000);
            job.Property(j => j.CreatedAt).HasColumnName("created_at");
            job.Property(j => j.UpdatedAt).HasColumnName("updated_at");
            job.Property(j => j.StartedAt).HasColumnName("started_at");
            job.Property(j => j.CompletedAt).HasColumnName("completed_at");
            job.Property(j => j.PromptTokens).HasColumnName("prompt_tokens");
            job.Property(j => j.CompletionTokens).HasColumnName("completion_tokens");
            job.Property(j => j.TotalTokens).HasColumnName("total_tokens");
            job.Property(j => j.CostUsd).HasColumnName("cost_usd");
            job.Property(j => j.IdempotencyKey).HasColumnName("idempotency_key").HasMaxLength(200);
            job.Property(j => j.RequestHash).HasColumnName("request_hash").HasMaxLength(64);
            job.Property(j => j.LockedBy).HasColumnName("locked_by").HasMaxLength(200);
            job.Property(j => j.LockedUntil).HasColumnName("locked_until");

            // The claim: WHERE status = 'pending' AND run_at <= now ORDER BY priority DESC, run_at, id.
            job.HasIndex(j => new { j.Status, j.Priority, j.RunAt, j.Id })
                .HasDatabaseName("ix_jobs_claim").IsDescending(false, true, false, false);
            // The rescuer: running jobs whose lease expired.
            job.HasIndex(j => new { j.Status, j.LockedUntil }).HasDatabaseName("ix_jobs_lease");
            // Listing newest first, and retention by age.
            job.HasIndex(j => j.CreatedAt).HasDatabaseName("ix_jobs_created_at");
            job.HasIndex(j => j.IdempotencyKey).HasDatabaseName("ix_jobs_idempotency_key").IsUnique();
        });

        model.Entity<JobLog>(log =>
        {
            log.ToTable("job_logs");
            log.HasKey(l => l.Id).HasName("pk_job_logs");
            log.Property(l => l.Id).HasColumnName("id").ValueGeneratedOnAdd();
            log.Property(l => l.JobId).HasColumnName("job_id");
            log.Property(l => l.Time).HasColumnName("time");
            log.Property(l => l.Level).HasColumnName("level").HasMaxLength(16);
            log.Property(l => l.Message).HasColumnName("message");
            log.Property(l => l.Attempt).HasColumnName("attempt");
            log.HasIndex(l => new { l.JobId, l.Id }).HasDatabaseName("ix_job_logs_job_id");
            log.HasOne<Job>().WithMany().HasForeignKey(l => l.JobId)
                .HasConstraintName("fk_job_logs_jobs_job_id").OnDelete(DeleteBehavior.Cascade);
        });
    }

    static JobStatus Parse(string name) =>
        JobStatusNames.TryParse(name, out var status) ? status
            : throw new InvalidOperationException($"Unknown job status '{name}' in the database.");

    sealed class UtcConverter() : ValueConverter<DateTime, DateTime>(
        v => v.Kind == DateTimeKind.Utc ? v : DateTime.SpecifyKind(v.ToUniversalTime(), DateTimeKind.Utc),
        v => DateTime.SpecifyKind(v, DateTimeKind.Utc));
}
