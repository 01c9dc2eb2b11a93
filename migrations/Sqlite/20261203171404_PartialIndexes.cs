using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace JobService.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class PartialIndexes : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_jobs_completed_at",
                table: "jobs");

            migrationBuilder.DropIndex(
                name: "ix_jobs_lease",
                table: "jobs");

            migrationBuilder.DropIndex(
                name: "ix_jobs_started_at",
                table: "jobs");

            migrationBuilder.CreateIndex(
                name: "ix_jobs_completed_at",
                table: "jobs",
                column: "completed_at",
                filter: "completed_at IS NOT NULL");

            migrationBuilder.CreateIndex(
                name: "ix_jobs_lease",
                table: "jobs",
                column: "locked_until",
                filter: "status = 'running'");

            migrationBuilder.CreateIndex(
                name: "ix_jobs_started_at",
                table: "jobs",
                column: "started_at",
                filter: "started_at IS NOT NULL");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_jobs_completed_at",
                table: "jobs");

            migrationBuilder.DropIndex(
                name: "ix_jobs_lease",
                table: "jobs");

            migrationBuilder.DropIndex(
                name: "ix_jobs_started_at",
                table: "jobs");

            migrationBuilder.CreateIndex(
                name: "ix_jobs_completed_at",
                table: "jobs",
                column: "completed_at");

            migrationBuilder.CreateIndex(
                name: "ix_jobs_lease",
                table: "jobs",
                columns: new[] { "status", "locked_until" });

            migrationBuilder.CreateIndex(
                name: "ix_jobs_started_at",
                table: "jobs",
                column: "started_at");
        }
    }
}
