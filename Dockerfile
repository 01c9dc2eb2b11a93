# JobService: multi-stage build. Not built on the project's machines (no Docker engine there);
# reviewed by hand. Build and run from the repository root:
#   docker build -t jobservice .
#   docker run -p 8080:8080 -v jobs-data:/app/data jobservice                 # SQLite in a volume
#   docker run -p 8080:8080 -e Database__Provider=postgres \
#     -e ConnectionStrings__Jobs="Host=db;Username=jobs;Password=...;Database=jobs" jobservice
# Roles (PostgreSQL only): -e Service__Role=api or worker to scale them separately.
# Auth (docs/security.md): the container listens beyond loopback, so it refuses to start with
# auth off unless told which you mean. Turn auth on with a first admin key of your making
# (jsk_ and 32 letters or digits, e.g. echo jsk_$(tr -dc A-Za-z0-9 </dev/urandom | head -c 32)):
#   docker run -p 8080:8080 -v jobs-data:/app/data -e Auth__Enabled=true \
#     -e Auth__BootstrapAdminKey=jsk_... jobservice
# then make tenants' keys with it (POST /api-keys), or without HTTP:
#   docker run --rm -v jobs-data:/app/data jobservice create-key --tenant acme --scopes jobs:read,jobs:write,events:read
# Or serve it open on purpose, on a network you trust: -e Auth__AllowAnonymous=true

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
# ReadyToRun: the service's and its packages' code is compiled ahead of time for the image's
# architecture, so a container starts without JIT-compiling EF Core, Npgsql and the service
# first (measured in docs/benchmarks.md: a worker's first job runs at 0.87 s instead of 1.5 s).
ARG TARGETARCH=amd64
WORKDIR /src
# Restore first, from the project files alone, so that the layer is cached across code changes.
COPY Directory.Build.props Directory.Packages.props ./
COPY src/JobService/JobService.csproj src/JobService/
RUN dotnet restore src/JobService/JobService.csproj -r linux-$([ "$TARGETARCH" = arm64 ] && echo arm64 || echo x64) -p:PublishReadyToRun=true
COPY appsettings.json ./
COPY migrations/ migrations/
COPY src/ src/
RUN dotnet publish src/JobService/JobService.csproj -c Release -o /app --no-restore --self-contained false \
    -r linux-$([ "$TARGETARCH" = arm64 ] && echo arm64 || echo x64) -p:PublishReadyToRun=true

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime
WORKDIR /app
COPY --from=build /app ./
# The image's non-root 'app' user (UID 1654) owns only the SQLite data folder.
RUN mkdir -p /app/data && chown app:app /app/data
USER app
# The start-up JIT profile (what the last start compiled, compiled ahead by the next on another
# core) is kept where the app user may write: beside the binary it could not be.
ENV ASPNETCORE_HTTP_PORTS=8080 \
    DOTNET_NOLOGO=1 \
    Service__JitProfileDirectory=/app/data/jit-profiles
EXPOSE 8080
VOLUME ["/app/data"]
# The runtime image has no curl: the binary's own 'healthcheck' verb probes /health/ready on the
# first of ASPNETCORE_HTTP_PORTS, so a container run with another port stays healthy.
HEALTHCHECK --interval=15s --timeout=6s --start-period=20s --retries=3 \
    CMD ["dotnet", "JobService.dll", "healthcheck"]
ENTRYPOINT ["dotnet", "JobService.dll"]
