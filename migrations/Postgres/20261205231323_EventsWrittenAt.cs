using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace JobService.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class EventsWrittenAt : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_job_events_created_at",
                table: "job_events");

            // Added without a default, then given one: a volatile default (clock_timestamp()) on ADD
            // COLUMN rewrites the whole table under its lock. Rows written before it stay null, but
            // those of the last hour (past any stream's replay window) take their created_at.
            migrationBuilder.AddColumn<DateTime>(
                name: "written_at",
                table: "job_events",
                type: "timestamp with time zone",
                nullable: true);
            migrationBuilder.Sql("ALTER TABLE job_events ALTER COLUMN written_at SET DEFAULT clock_timestamp()");
            migrationBuilder.Sql("UPDATE job_events SET written_at = created_at WHERE created_at > now() - interval '1 hour'");

            migrationBuilder.CreateIndex(
                name: "ix_job_events_written_at",
                table: "job_events",
                column: "written_at");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_job_events_written_at",
                table: "job_events");

            migrationBuilder.DropColumn(
                name: "written_at",
                table: "job_events");

            migrationBuilder.CreateIndex(
                name: "ix_job_events_created_at",
                table: "job_events",
                column: "created_at");
        }
    }
}
