using System.Linq.Expressions;

namespace JobService.Data;

public static class StatusQueries
{
    /// <summary>
    /// The jobs in any of <paramref name="statuses"/>: one query per status, the status written as
    /// a SQL literal, joined by UNION ALL. The partial indexes (ix_jobs_claim: pending; ix_jobs_lease:
    /// running; PostgreSQL's ix_jobs_unsuccessful_created_at: failed, cancelled) serve a query that
    /// names their filter's literal, and neither an IN list of statuses nor, on SQLite, a parameter
    /// does: a list of running jobs read the whole table.
    /// </summary>
    public static IQueryable<Job> InStatuses(this IQueryable<Job> jobs, IEnumerable<JobStatus> statuses)
    {
        IQueryable<Job>? all = null;
        foreach (var status in statuses.Distinct())
        {
            var job = Expression.Parameter(typeof(Job), "j");
            var isStatus = Expression.Lambda<Func<Job, bool>>(Expression.Equal(Expression.Property(job, nameof(Job.Status)), Expression.Constant(status)), job);
            all = all is null ? jobs.Where(isStatus) : all.Concat(jobs.Where(isStatus));
        }
        return all ?? jobs.Where(_ => false);
    }
}
