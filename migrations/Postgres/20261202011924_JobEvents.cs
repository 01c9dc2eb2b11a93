using System;
using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql.EntityFrameworkCore.PostgreSQL.Metadata;

#nullable disable

namespace JobService.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class JobEvents : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<long>(
                name: "event_seq",
                table: "jobs",
                type: "bigint",
                nullable: false,
                defaultValue: 0L);

            migrationBuilder.AddColumn<int>(
                name: "rescue_count",
                table: "jobs",
                type: "integer",
                nullable: false,
                defaultValue: 0);

            migrationBuilder.AddColumn<string>(
                name: "usage_detail",
                table: "jobs",
                type: "jsonb",
                nullable: true);

            migrationBuilder.CreateTable(
                name: "job_events",
                columns: table => new
                {
                    job_id = table.Column<Guid>(type: "uuid", nullable: false),
                    seq = table.Column<long>(type: "bigint", nullable: false),
                    kind = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    level = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: true),
                    message = table.Column<string>(type: "text", nullable: true),
                    data = table.Column<string>(type: "jsonb", nullable: true),
                    created_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_job_events", x => new { x.job_id, x.seq });
                    table.ForeignKey(
                        name: "fk_job_events_jobs_job_id",
                        column: x => x.job_id,
                        principalTable: "jobs",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "ix_job_events_created_at",
                table: "job_events",
                column: "created_at");

            // Edited after generation: the log lines move into the event log (each job's seq from 1, in
            // the order they were written), then job_logs goes.
            migrationBuilder.Sql("""
                INSERT INTO job_events (job_id, seq, kind, level, message, data, created_at)
                SELECT job_id, ROW_NUMBER() OVER (PARTITION BY job_id ORDER BY id), 'log', level, message,
                    jsonb_build_object('attempt', attempt), time
                FROM job_logs;
                UPDATE jobs SET event_seq = e.last FROM (SELECT job_id, MAX(seq) AS last FROM job_events GROUP BY job_id) AS e
                WHERE jobs.id = e.job_id;
                """);
            migrationBuilder.DropTable(name: "job_logs");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "job_events");

            migrationBuilder.DropColumn(
                name: "event_seq",
                table: "jobs");

            migrationBuilder.DropColumn(
                name: "rescue_count",
                table: "jobs");

            migrationBuilder.DropColumn(
                name: "usage_detail",
                table: "jobs");

            migrationBuilder.CreateTable(
                name: "job_logs",
                columns: table => new
                {
                    id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    attempt = table.Column<int>(type: "integer", nullable: false),
                    job_id = table.Column<Guid>(type: "uuid", nullable: false),
                    level = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    message = table.Column<string>(type: "text", nullable: false),
                    time = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_job_logs", x => x.id);
                    table.ForeignKey(
                        name: "fk_job_logs_jobs_job_id",
                        column: x => x.job_id,
                        principalTable: "jobs",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "ix_job_logs_job_id",
                table: "job_logs",
                columns: new[] { "job_id", "id" });
        }
    }
}
