using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace JobService.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class IdempotencyKeyIndexPartial : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_jobs_tenant_idempotency_key",
                table: "jobs");

            migrationBuilder.CreateIndex(
                name: "ix_jobs_tenant_idempotency_key",
                table: "jobs",
                columns: new[] { "tenant_id", "idempotency_key" },
                unique: true,
                filter: "idempotency_key IS NOT NULL");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_jobs_tenant_idempotency_key",
                table: "jobs");

            migrationBuilder.CreateIndex(
                name: "ix_jobs_tenant_idempotency_key",
                table: "jobs",
                columns: new[] { "tenant_id", "idempotency_key" },
                unique: true);
        }
    }
}
