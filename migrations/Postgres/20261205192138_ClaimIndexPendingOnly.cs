using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace JobService.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class ClaimIndexPendingOnly : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_jobs_claim",
                table: "jobs");

            migrationBuilder.DropIndex(
                name: "ix_jobs_started_at",
                table: "jobs");

            migrationBuilder.CreateIndex(
                name: "ix_jobs_claim",
                table: "jobs",
                columns: new[] { "tenant_id", "priority", "run_at", "id" },
                descending: new[] { false, true, false, false },
                filter: "status = 'pending'");

            migrationBuilder.CreateIndex(
                name: "ix_jobs_unsuccessful_created_at",
                table: "jobs",
                column: "created_at",
                filter: "status IN ('failed', 'cancelled')");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_jobs_claim",
                table: "jobs");

            migrationBuilder.DropIndex(
                name: "ix_jobs_unsuccessful_created_at",
                table: "jobs");

            migrationBuilder.CreateIndex(
                name: "ix_jobs_claim",
                table: "jobs",
                columns: new[] { "status", "tenant_id", "priority", "run_at", "id" },
                descending: new[] { false, false, true, false, false });

            migrationBuilder.CreateIndex(
                name: "ix_jobs_started_at",
                table: "jobs",
                column: "started_at",
                filter: "started_at IS NOT NULL");
        }
    }
}
