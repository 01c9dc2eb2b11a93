using JobService.Tests.Infrastructure;

namespace JobService.Tests.Dashboard;

/// <summary>A test class on a <see cref="ClockedApp"/> of its own, emptied before each test.</summary>
public abstract class ClockedContract(ClockedApp app) : IAsyncLifetime
{
    public async ValueTask InitializeAsync()
    {
        if (app.IsAvailable) await app.ResetAsync();
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    protected ClockedApp App => (ClockedApp)app.EnsureAvailable();
}
