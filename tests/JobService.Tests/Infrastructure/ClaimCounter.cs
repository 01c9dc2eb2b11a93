using System.Reflection;
using System.Runtime.ExceptionServices;
using JobService.Transitions;
using JobService.Worker;
using Microsoft.Extensions.DependencyInjection;

namespace JobService.Tests.Infrastructure;

/// <summary>
/// Counts the claim statements a service runs, and says when one has returned: its driver, the
/// real one, is wrapped in a proxy that passes every call on and watches
/// <see cref="IJobDriver.ClaimAsync"/>. Give <see cref="Wrap"/> to a <see cref="WorkerApp"/> as its
/// <c>configure</c>.
/// </summary>
public sealed class ClaimCounter
{
    int _count;
    readonly JobWakeup _returned = new();

    /// <summary>Claims begun.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Completes when a claim statement has next returned: take it before what makes the worker claim.</summary>
    public Task NextReturn => _returned.Next;

    public void Wrap(IServiceCollection services)
    {
        var real = services.Last(d => d.ServiceType == typeof(IJobDriver));
        services.Remove(real);
        services.AddSingleton(sp =>
        {
            var proxy = DispatchProxy.Create<IJobDriver, Counting>();
            ((Counting)(object)proxy).Set((IJobDriver)real.ImplementationFactory!(sp), this);
            return proxy;
        });
    }

    public class Counting : DispatchProxy
    {
        IJobDriver? _inner;
        ClaimCounter? _counter;

        internal void Set(IJobDriver inner, ClaimCounter counter) => (_inner, _counter) = (inner, counter);

        protected override object? Invoke(MethodInfo? method, object?[]? args)
        {
            if (method!.Name != nameof(IJobDriver.ClaimAsync)) return Forward(method, args);
            Interlocked.Increment(ref _counter!._count);
            var claim = (Task)Forward(method, args)!;
            claim.ContinueWith(_ => _counter._returned.Signal(), TaskScheduler.Default);
            return claim;
        }

        object? Forward(MethodInfo method, object?[]? args)
        {
            try { return method.Invoke(_inner, args); }
            catch (TargetInvocationException e) when (e.InnerException is not null)
            {
                ExceptionDispatchInfo.Throw(e.InnerException);
                throw;
            }
        }
    }
}
