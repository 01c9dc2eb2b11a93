using Microsoft.EntityFrameworkCore;

namespace JobService.Data;

/// <summary>The dashboard's tables and the indexes its queries lean on.</summary>
public static class DashboardTables
{
    public static void Configure(ModelBuilder model)
    {
        model.Entity<JobTypePause>(p =>
        {
            p.ToTable("job_type_pauses");
            p.HasKey(x => x.Type).HasName("pk_job_type_pauses");
            p.Property(x => x.Type).HasColumnName("type").HasMaxLength(100);
            p.Property(x => x.PausedUntil).HasColumnName("paused_until");
            p.Property(x => x.PausedAt).HasColumnName("paused_at");
            p.Property(x => x.PausedBy).HasColumnName("paused_by").HasMaxLength(200);
        });

        model.Entity<WorkerInstance>(w =>
        {
            w.ToTable("workers");
            w.HasKey(x => x.Id).HasName("pk_workers");
            w.Property(x => x.Id).HasColumnName("id").HasMaxLength(200);
            w.Property(x => x.Host).HasColumnName("host").HasMaxLength(200);
            w.Property(x => x.Version).HasColumnName("version").HasMaxLength(100);
            w.Property(x => x.Role).HasColumnName("role").HasMaxLength(16);
            w.Property(x => x.State).HasColumnName("state").HasMaxLength(16);
            w.Property(x => x.StartedAt).HasColumnName("started_at");
            w.Property(x => x.LastSeenAt).HasColumnName("last_seen_at");
            w.Property(x => x.HeartbeatSeconds).HasColumnName("heartbeat_seconds");
            w.Property(x => x.Slots).HasColumnName("slots");
            w.Property(x => x.Busy).HasColumnName("busy");
        });

        model.Entity<DashboardSignOut>(x =>
        {
            x.ToTable("dashboard_sign_outs");
            x.HasKey(o => o.SessionId).HasName("pk_dashboard_sign_outs");
            x.Property(o => o.SessionId).HasColumnName("session_id").ValueGeneratedNever();
            x.Property(o => o.ExpiresAt).HasColumnName("expires_at");
        });

        // GET /jobs/stats?window=…: finished jobs are grouped by this time (created_at has its index), and
        // retention finds them by it. Partial: every use is a range of times, and an unfinished job adds no entry.
        // Started jobs have no index of their own: each would cost every claim and outcome an entry,
        // and the queue waits read the jobs started in a window as the finished and the running ones (StatsTimeline).
        model.Entity<Job>(job =>
            job.HasIndex(j => j.CompletedAt).HasDatabaseName("ix_jobs_completed_at").HasFilter("completed_at IS NOT NULL"));
    }

    /// <summary>
    /// PostgreSQL only: the payload filter (<c>payload @> '{"theme": "fantasy"}'</c>) is a jsonb
    /// containment, which a GIN index with jsonb_path_ops answers (smaller than jsonb_ops, and @> is all it needs).
    /// </summary>
    public static void ConfigurePostgres(ModelBuilder model)
    {
        model.Entity<Job>().HasIndex(j => j.Payload).HasDatabaseName("ix_jobs_payload").HasMethod("gin").HasOperators("jsonb_path_ops");
        // Listing failed or cancelled jobs, newest first: few among the finished, which ix_jobs_claim
        // no longer holds. PostgreSQL plans a list with the status filter's values, so it can use a
        // partial index; SQLite matches a partial index's filter only to literal text in the query.
        model.Entity<Job>().HasIndex(j => j.CreatedAt, "ix_jobs_unsuccessful_created_at").HasFilter("status IN ('failed', 'cancelled')");
    }
}
