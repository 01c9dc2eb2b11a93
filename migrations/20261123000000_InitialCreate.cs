using JobService.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql.EntityFrameworkCore.PostgreSQL.Metadata;

namespace JobService.Migrations;

/// <summary>
/// The jobs and job_logs tables. Written by hand (the EF Design package cannot be restored
/// here); column types are left to the provider so that SQLite and PostgreSQL share it.
/// </summary>
[DbContext(typeof(JobsDbContext))]
[Migration("20261123000000_InitialCreate")]
public sealed class InitialCreate : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.CreateTable(
            name: "jobs",
            columns: table => new
            {
                id = table.Column<Guid>(nullable: false),
                type = table.Column<string>(maxLength: 100, nullable: false),
                status = table.Column<string>(maxLength: 16, nullable: false),
                progress = table.Column<int>(nullable: false),
                message = table.Column<string>(maxLength: 500, nullable: true),
                payload = table.Column<string>(nullable: false),
                result = table.Column<string>(nullable: true),
                error = table.Column<string>(nullable: true),
                priority = table.Column<int>(nullable: false),
                attempt = table.Column<int>(nullable: false),
                max_attempts = table.Column<int>(nullable: false),
                run_at = table.Column<DateTime>(nullable: false),
                cancel_requested = table.Column<bool>(nullable: false),
                callback_url = table.Column<string>(maxLength: 2000, nullable: true),
                created_at = table.Column<DateTime>(nullable: false),
                updated_at = table.Column<DateTime>(nullable: false),
                started_at = table.Column<DateTime>(nullable: true),
                completed_at = table.Column<DateTime>(nullable: true),
                prompt_tokens = table.Column<int>(nullable: true),
                completion_tokens = table.Column<int>(nullable: true),
                total_tokens = table.Column<int>(nullable: true),
                cost_usd = table.Column<double>(nullable: true),
                idempotency_key = table.Column<string>(maxLength: 200, nullable: true),
                request_hash = table.Column<string>(maxLength: 64, nullable: true),
                locked_by = table.Column<string>(maxLength: 200, nullable: true),
                locked_until = table.Column<DateTime>(nullable: true),
            },
            constraints: table => table.PrimaryKey("pk_jobs", x => x.id));

        migrationBuilder.CreateTable(
            name: "job_logs",
            columns: table => new
            {
                id = table.Column<long>(nullable: false)
                    .Annotation("Sqlite:Autoincrement", true)
                    .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                job_id = table.Column<Guid>(nullable: false),
                time = table.Column<DateTime>(nullable: false),
                level = table.Column<string>(maxLength: 16, nullable: false),
                message = table.Column<string>(nullable: false),
                attempt = table.Column<int>(nullable: false),
            },
            constraints: table =>
            {
                table.PrimaryKey("pk_job_logs", x => x.id);
                table.ForeignKey("fk_job_logs_jobs_job_id", x => x.job_id, "jobs", "id", onDelete: ReferentialAction.Cascade);
            });

        migrationBuilder.CreateIndex("ix_jobs_claim", "jobs", ["status", "priority", "run_at", "id"],
            descending: [false, true, false, false]);
        migrationBuilder.CreateIndex("ix_jobs_lease", "jobs", ["status", "locked_until"]);
        migrationBuilder.CreateIndex("ix_jobs_created_at", "jobs", "created_at");
        migrationBuilder.CreateIndex("ix_jobs_idempotency_key", "jobs", "idempotency_key", unique: true);
        migrationBuilder.CreateIndex("ix_job_logs_job_id", "job_logs", ["job_id", "id"]);
    }

    protected override void Down(MigrationBuilder migrationBuilder)
    {
        migrationBuilder.DropTable("job_logs");
        migrationBuilder.DropTable("jobs");
    }

    protected override void BuildTargetModel(ModelBuilder modelBuilder) => JobsDbContextModelSnapshot.Define(modelBuilder);
}
