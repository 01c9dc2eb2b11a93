using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace JobService.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class WebhookReceivers : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "receiver",
                table: "webhook_deliveries",
                type: "TEXT",
                maxLength: 2048,
                nullable: false,
                defaultValue: "");

            // Deliveries written before this: each URL counts as a receiver of its own (the outbox
            // writes the URL's scheme, host and port from now on, CallbackUrls.Receiver).
            migrationBuilder.Sql("UPDATE webhook_deliveries SET receiver = url");

            migrationBuilder.CreateIndex(
                name: "ix_webhook_deliveries_sending",
                table: "webhook_deliveries",
                column: "receiver",
                filter: "locked_by IS NOT NULL");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_webhook_deliveries_sending",
                table: "webhook_deliveries");

            migrationBuilder.DropColumn(
                name: "receiver",
                table: "webhook_deliveries");
        }
    }
}
