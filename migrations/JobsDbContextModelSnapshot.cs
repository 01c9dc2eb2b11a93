using JobService.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;

namespace JobService.Migrations;

/// <summary>
/// The model as the migrations leave it. Snapshot builders run without conventions, so every
/// name is spelled out. A drift test on each provider (HasPendingModelChanges) keeps this
/// file, the migrations and <see cref="JobsDbContext"/> in step.
/// </summary>
[DbContext(typeof(JobsDbContext))]
public sealed class JobsDbContextModelSnapshot : ModelSnapshot
{
    protected override void BuildModel(ModelBuilder modelBuilder) => Define(modelBuilder);

    internal static void Define(ModelBuilder modelBuilder)
    {
        modelBuilder.HasAnnotation("ProductVersion", "10.0.14");

        modelBuilder.Entity("JobService.Data.Job", b =>
        {
            b.Property<Guid>("Id").HasColumnName("id");
            b.Property<string>("Type").IsRequired().HasMaxLength(100).HasColumnName("type");
            b.Property<string>("Status").IsRequired().HasMaxLength(16).HasColumnName("status");
            b.Property<int>("Progress").HasColumnName("progress");
            b.Property<string>("Message").HasMaxLength(500).HasColumnName("message");
            b.Property<string>("Payload").IsRequired().HasColumnName("payload");
            b.Property<string>("Result").HasColumnName("result");
            b.Property<string>("Error").HasColumnName("error");
            b.Property<int>("Priority").HasColumnName("priority");
            b.Property<int>("Attempt").HasColumnName("attempt");
            b.Property<int>("MaxAttempts").HasColumnName("max_attempts");
            b.Property<DateTime>("RunAt").HasColumnName("run_at");
            b.Property<bool>("CancelRequested").HasColumnName("cancel_requested");
            b.Property<string>("CallbackUrl").HasMaxLength(2000).HasColumnName("callback_url");
            b.Property<DateTime>("CreatedAt").HasColumnName("created_at");
            b.Property<DateTime>("UpdatedAt").HasColumnName("updated_at");
            b.Property<DateTime?>("StartedAt").HasColumnName("started_at");
            b.Property<DateTime?>("CompletedAt").HasColumnName("completed_at");
            b.Property<int?>("PromptTokens").HasColumnName("prompt_tokens");
            b.Property<int?>("CompletionTokens").HasColumnName("completion_tokens");
            b.Property<int?>("TotalTokens").HasColumnName("total_tokens");
            b.Property<double?>("CostUsd").HasColumnName("cost_usd");
            b.Property<string>("IdempotencyKey").HasMaxLength(200).HasColumnName("idempotency_key");
            b.Property<string>("RequestHash").HasMaxLength(64).HasColumnName("request_hash");
            b.Property<string>("LockedBy").HasMaxLength(200).HasColumnName("locked_by");
            b.Property<DateTime?>("LockedUntil").HasColumnName("locked_until");

            b.HasKey("Id").HasName("pk_jobs");
            b.HasIndex("Status", "Priority", "RunAt", "Id").HasDatabaseName("ix_jobs_claim")
                .IsDescending(false, true, false, false);
            b.HasIndex("Status", "LockedUntil").HasDatabaseName("ix_jobs_lease");
            b.HasIndex("CreatedAt").HasDatabaseName("ix_jobs_created_at");
            b.HasIndex("IdempotencyKey").IsUnique().HasDatabaseName("ix_jobs_idempotency_key");
            b.ToTable("jobs");
        });

        modelBuilder.Entity("JobService.Data.JobLog", b =>
        {
            b.Property<long>("Id").ValueGeneratedOnAdd().HasColumnName("id")
                .HasAnnotation("Npgsql:ValueGenerationStrategy",
                    Npgsql.EntityFrameworkCore.PostgreSQL.Metadata.NpgsqlValueGenerationStrategy.IdentityByDefaultColumn);
            b.Property<Guid>("JobId").HasColumnName("job_id");
            b.Property<DateTime>("Time").HasColumnName("time");
            b.Property<string>("Level").IsRequired().HasMaxLength(16).HasColumnName("level");
            b.Property<string>("Message").IsRequired().HasColumnName("message");
            b.Property<int>("Attempt").HasColumnName("attempt");

            b.HasKey("Id").HasName("pk_job_logs");
            b.HasIndex("JobId", "Id").HasDatabaseName("ix_job_logs_job_id");
            b.ToTable("job_logs");
        });

        modelBuilder.Entity("JobService.Data.JobLog", b =>
        {
            b.HasOne("JobService.Data.Job", null).WithMany().HasForeignKey("JobId")
                .OnDelete(DeleteBehavior.Cascade).IsRequired().HasConstraintName("fk_job_logs_jobs_job_id");
        });
    }
}
