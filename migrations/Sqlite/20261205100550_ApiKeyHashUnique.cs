using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace JobService.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class ApiKeyHashUnique : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            // Before this index, instances started together could store Auth:BootstrapAdminKey twice, and a
            // revoke of one row left the other working: one row per key is kept, the oldest, revoked if any copy was.
            migrationBuilder.Sql("""
                UPDATE api_keys SET revoked_at = (SELECT MIN(d.revoked_at) FROM api_keys AS d WHERE d.key_hash = api_keys.key_hash)
                WHERE revoked_at IS NULL
                  AND EXISTS (SELECT 1 FROM api_keys AS d WHERE d.key_hash = api_keys.key_hash AND d.revoked_at IS NOT NULL);
                DELETE FROM api_keys
                WHERE EXISTS (SELECT 1 FROM api_keys AS d WHERE d.key_hash = api_keys.key_hash
                              AND (d.created_at < api_keys.created_at OR (d.created_at = api_keys.created_at AND d.id < api_keys.id)));
                """);
            migrationBuilder.CreateIndex(
                name: "ux_api_keys_key_hash",
                table: "api_keys",
                column: "key_hash",
                unique: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ux_api_keys_key_hash",
                table: "api_keys");
        }
    }
}
