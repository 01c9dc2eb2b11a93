CREATE TABLE IF NOT EXISTS "__EFMigrationsHistory" (
    "MigrationId" TEXT NOT NULL CONSTRAINT "PK___EFMigrationsHistory" PRIMARY KEY,
    "ProductVersion" TEXT NOT NULL
);

BEGIN TRANSACTION;
CREATE TABLE "jobs" (
    "id" TEXT NOT NULL CONSTRAINT "pk_jobs" PRIMARY KEY,
    "type" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "progress" INTEGER NOT NULL,
    "message" TEXT NULL,
    "payload" TEXT NOT NULL,
    "result" TEXT NULL,
    "error" TEXT NULL,
    "priority" INTEGER NOT NULL,
    "attempt" INTEGER NOT NULL,
    "max_attempts" INTEGER NOT NULL,
    "run_at" TEXT NOT NULL,
    "cancel_requested" INTEGER NOT NULL,
    "callback_url" TEXT NULL,
    "created_at" TEXT NOT NULL,
    "updated_at" TEXT NOT NULL,
    "started_at" TEXT NULL,
    "completed_at" TEXT NULL,
    "prompt_tokens" INTEGER NULL,
    "completion_tokens" INTEGER NULL,
    "total_tokens" INTEGER NULL,
    "cost_usd" REAL NULL,
    "idempotency_key" TEXT NULL,
    "request_hash" TEXT NULL,
    "locked_by" TEXT NULL,
    "locked_until" TEXT NULL
);

CREATE TABLE "job_logs" (
    "id" INTEGER NOT NULL CONSTRAINT "pk_job_logs" PRIMARY KEY AUTOINCREMENT,
    "job_id" TEXT NOT NULL,
    "time" TEXT NOT NULL,
    "level" TEXT NOT NULL,
    "message" TEXT NOT NULL,
    "attempt" INTEGER NOT NULL,
    CONSTRAINT "fk_job_logs_jobs_job_id" FOREIGN KEY ("job_id") REFERENCES "jobs" ("id") ON DELETE CASCADE
);

CREATE INDEX "ix_jobs_claim" ON "jobs" ("status", "priority" DESC, "run_at", "id");

CREATE INDEX "ix_jobs_lease" ON "jobs" ("status", "locked_until");

CREATE INDEX "ix_jobs_created_at" ON "jobs" ("created_at");

CREATE UNIQUE INDEX "ix_jobs_idempotency_key" ON "jobs" ("idempotency_key");

CREATE INDEX "ix_job_logs_job_id" ON "job_logs" ("job_id", "id");

INSERT INTO "__EFMigrationsHistory" ("MigrationId", "ProductVersion")
VALUES ('20261123000000_InitialCreate', '10.0.15');

COMMIT;

