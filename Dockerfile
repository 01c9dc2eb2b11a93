# JobService: multi-stage build. Not built on the project's machines (no Docker engine there);
# reviewed by hand. Build and run from the repository root:
#   docker build -t jobservice .
#   docker run -p 8080:8080 -v jobs-data:/app/data jobservice                 # SQLite in a volume
#   docker run -p 8080:8080 -e Database__Provider=postgres \
#     -e ConnectionStrings__Jobs="Host=db;Username=jobs;Password=...;Database=jobs" jobservice
# Roles (PostgreSQL only): -e Service__Role=api or worker to scale them separately.

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
# Restore first, from the project files alone, so that the layer is cached across code changes.
COPY Directory.Build.props Directory.Packages.props ./
COPY src/JobService/JobService.csproj src/JobService/
RUN dotnet restore src/JobService/JobService.csproj
COPY appsettings.json ./
COPY migrations/ migrations/
COPY src/ src/
RUN dotnet publish src/JobService/JobService.csproj -c Release -o /app --no-restore

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime
WORKDIR /app
COPY --from=build /app ./
# The image's non-root 'app' user (UID 1654) owns only the SQLite data folder.
RUN mkdir -p /app/data && chown app:app /app/data
USER app
ENV ASPNETCORE_HTTP_PORTS=8080 \
    DOTNET_NOLOGO=1
EXPOSE 8080
VOLUME ["/app/data"]
# The runtime image has no curl: the binary's own 'healthcheck' verb probes /health/ready.
HEALTHCHECK --interval=15s --timeout=6s --start-period=20s --retries=3 \
    CMD ["dotnet", "JobService.dll", "healthcheck", "http://127.0.0.1:8080/health/ready"]
ENTRYPOINT ["dotnet", "JobService.dll"]
