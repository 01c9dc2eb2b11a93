namespace JobService.Tests.Infrastructure;

/// <summary>
/// A test's own folder under the temp folder's <c>jobservice-tests</c>, deleted with it: its SQLite
/// databases and their -wal, -shm and .migrating files go too (a full run used to leave about
/// thirty such files in /tmp, four per database). A test class holds one as a field and disposes
/// it in its own Dispose: xUnit makes a class instance per test.
/// </summary>
public sealed class TempFolder : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "jobservice-tests", Guid.NewGuid().ToString("N"));

    public TempFolder() => Directory.CreateDirectory(Path);

    /// <summary>A database file's path in the folder, not yet created: <paramref name="name"/>-{guid}.db.</summary>
    public string NewDatabase(string name) => System.IO.Path.Combine(Path, $"{name}-{Guid.NewGuid():N}.db");

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools(); // a pooled connection of this process keeps its file open
        try { Directory.Delete(Path, recursive: true); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { } // a file a process still held: the temp folder's to clear
    }
}
