namespace JobService.Data;

/// <summary>
/// Before api_keys.key_hash became unique (migration ApiKeyHashUnique), two instances storing
/// Auth:BootstrapAdminKey at once could store it twice, and revoking one row left the other
/// working. The migration keeps one row per key: the oldest, revoked if any of its copies was.
/// Plain SQL that both providers run.
/// </summary>
public static class DuplicateKeys
{
    public const string Merge = """
        UPDATE api_keys SET revoked_at = (SELECT MIN(d.revoked_at) FROM api_keys AS d WHERE d.key_hash = api_keys.key_hash)
        WHERE revoked_at IS NULL
          AND EXISTS (SELECT 1 FROM api_keys AS d WHERE d.key_hash = api_keys.key_hash AND d.revoked_at IS NOT NULL);
        DELETE FROM api_keys
        WHERE EXISTS (SELECT 1 FROM api_keys AS d WHERE d.key_hash = api_keys.key_hash
                      AND (d.created_at < api_keys.created_at OR (d.created_at = api_keys.created_at AND d.id < api_keys.id)));
        """;
}
