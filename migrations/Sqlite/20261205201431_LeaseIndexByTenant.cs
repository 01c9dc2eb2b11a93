using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace JobService.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class LeaseIndexByTenant : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_jobs_lease",
                table: "jobs");

            migrationBuilder.CreateIndex(
                name: "ix_jobs_lease",
                table: "jobs",
                columns: new[] { "tenant_id", "locked_until" },
                filter: "status = 'running'");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_jobs_lease",
                table: "jobs");

            migrationBuilder.CreateIndex(
                name: "ix_jobs_lease",
                table: "jobs",
                column: "locked_until",
                filter: "status = 'running'");
        }
    }
}
