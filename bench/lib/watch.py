"""Watches jobs as a frontend does: one GET /jobs/{id}/events stream per job id (read from stdin, one
per line), all open at once, each read until its terminal event. Prints one JSON line: how many streams
saw their end, the events and bytes they carried, when (seconds after start) the last one ended, and the
client's own CPU time.
    python3 bench/lib/watch.py PORT < ids"""
import asyncio, json, sys, time

TERMINAL = (b"event: completed", b"event: failed", b"event: cancelled")


async def watch(port, job_id, totals, start):
    # HTTP/1.0: the answer is not chunked and ends when the stream does.
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET /jobs/{job_id}/events HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".encode())
    await writer.drain()
    ended = False
    async for line in reader:
        totals["bytes"] += len(line)
        if line.startswith(b"event: "):
            totals["events"] += 1
            if line.startswith(b"event: output"):
                totals["output"] += 1
            if line.rstrip().startswith(TERMINAL):
                ended = True
    writer.close()
    if ended:
        totals["ended"] += 1
        totals["last_end_s"] = max(totals["last_end_s"], round(time.monotonic() - start, 1))


async def main():
    port = int(sys.argv[1])
    ids = [line.strip() for line in sys.stdin if line.strip()]
    totals = {"streams": len(ids), "ended": 0, "events": 0, "output": 0, "bytes": 0, "last_end_s": 0.0}
    start = time.monotonic()
    await asyncio.gather(*(watch(port, i, totals, start) for i in ids))
    totals["client_cpu_s"] = round(time.process_time(), 1)  # this client's share of the machine
    print(json.dumps(totals))


asyncio.run(main())
