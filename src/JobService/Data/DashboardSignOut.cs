namespace JobService.Data;

/// <summary>
/// A dashboard session signed out before it expired: its cookie is refused from then on, on every
/// instance, even if someone kept a copy. Kept until the session would have expired anyway.
/// </summary>
public sealed class DashboardSignOut
{
    public Guid SessionId { get; set; }
    public DateTime ExpiresAt { get; set; }
}
