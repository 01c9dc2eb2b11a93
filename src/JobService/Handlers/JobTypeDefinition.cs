using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace JobService.Handlers;

/// <summary>
/// Everything the service knows about a job type: its name, defaults, payload schema, how to
/// validate a payload at submit time, and how to make a handler for one run.
/// </summary>
public sealed record JobTypeDefinition(
    string Name,
    string? Description,
    Lazy<JsonObject> Schema,
    Func<JsonElement, IDictionary<string, string[]>> ValidatePayload,
    Func<IServiceProvider, IJobHandler> CreateHandler)
{
    /// <summary>
    /// The payload's JSON Schema, made on first use: made from the payload record by reflection, it
    /// cost a worker, which never needs it, ~60 ms of its start. A node serving the API makes every
    /// type's at start (PrepareJobServiceAsync), so that one it cannot publish stops the start.
    /// </summary>
    public JsonObject PayloadSchema => Schema.Value;

    public const int DefaultTimeoutSeconds = 300;
    public const int DefaultMaxAttempts = 3;

    public int TimeoutSeconds { get; init; } = DefaultTimeoutSeconds;
    public int MaxAttempts { get; init; } = DefaultMaxAttempts;
    /// <summary>0: no per-type limit beyond the worker's own.</summary>
    public int Concurrency { get; init; }

    /// <summary>
    /// Builds what a run of this type needs, which otherwise its first job pays for: how the
    /// payload record is read (System.Text.Json's contract for it: reflection and emitted
    /// accessors, 20–30 ms) and the handler's constructor call (a compiled expression, 3–10 ms).
    /// A worker calls it for every type while it waits for the database (JobWorker).
    /// </summary>
    public Action PrepareRun { get; init; } = () => { };

    /// <summary>
    /// Reads a made-up payload of this type once (<see cref="PayloadWarmUp"/>): the first read
    /// itself, which an idle worker's first job of the type waited 5–7 ms for after its claim. An
    /// idle worker calls it with its rehearsal (JobWorker); one that starts on a backlog has no
    /// use for it, its first jobs read their payloads anyway. Never throws.
    /// </summary>
    public Action RehearseRead { get; init; } = () => { };

    /// <summary>The definition of a C# handler, from its <see cref="JobTypeAttribute"/> and payload record.</summary>
    public static JobTypeDefinition For(Type handlerType)
    {
        for (var t = handlerType; t is not null; t = t.BaseType)
        {
            if (t.IsGenericType && t.GetGenericTypeDefinition() == typeof(JobHandler<>))
                return (JobTypeDefinition)typeof(JobTypeDefinition).GetMethod(nameof(ForHandler), BindingFlags.NonPublic | BindingFlags.Static)!
                    .MakeGenericMethod(handlerType, t.GetGenericArguments()[0])
                    .Invoke(null, BindingFlags.DoNotWrapExceptions, null, null, null)!; // its refusals as they are, not in a TargetInvocationException
        }
        throw new Hosting.StartupRefusedException($"{handlerType.Name} must derive from JobHandler<TPayload>.");
    }

    /// <summary>
    /// Resolves the handler's constructor once, not per job, and not before a run needs it: made at
    /// registration, each type's factory (an expression compiled to code) cost every start, the
    /// API's included, ~10 ms of the host's configuration for the built-in types alone.
    /// </summary>
    static (Func<IServiceProvider, IJobHandler> Create, Action Prepare) LazyFactory<THandler>() where THandler : IJobHandler
    {
        var factory = new Lazy<ObjectFactory<THandler>>(() => ActivatorUtilities.CreateFactory<THandler>([]));
        return (sp => factory.Value(sp, null), () => _ = factory.Value);
    }

    static JobTypeDefinition ForHandler<THandler, TPayload>()
        where THandler : JobHandler<TPayload> where TPayload : class
    {
        var attribute = typeof(THandler).GetCustomAttributes(typeof(JobTypeAttribute), false)
            .OfType<JobTypeAttribute>().SingleOrDefault()
            ?? throw new Hosting.StartupRefusedException($"{typeof(THandler).Name} has no [JobType(\"name\")] attribute.");
        // The factory is made at the first run; what it needs is checked now, so that a handler the
        // worker could not make stops the start instead of failing each of its jobs.
        var constructors = typeof(THandler).GetConstructors();
        if (constructors.Length != 1 && constructors.Count(c => c.IsDefined(typeof(ActivatorUtilitiesConstructorAttribute), false)) != 1)
            throw new Hosting.StartupRefusedException($"{typeof(THandler).Name} has {constructors.Length} public constructors: a handler needs " +
                                                      "one (or one marked [ActivatorUtilitiesConstructor]) for the worker to make it.");
        var (create, prepare) = LazyFactory<THandler>();
        return new JobTypeDefinition(
            attribute.Name,
            attribute.Description,
            new Lazy<JsonObject>(Handlers.PayloadSchema.For<TPayload>),
            PayloadValidator.Validate<TPayload>,
            create)
        {
            TimeoutSeconds = attribute.TimeoutSeconds,
            MaxAttempts = attribute.MaxAttempts,
            Concurrency = attribute.Concurrency,
            PrepareRun = () =>
            {
                JobJson.Options.GetTypeInfo(typeof(TPayload));
                prepare();
            },
            RehearseRead = () => PayloadWarmUp.Read<TPayload>(),
        };
    }
}
