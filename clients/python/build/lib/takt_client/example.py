"""Example: health, a small batch (one duplicate, one invalid), worker and factory metrics, and a
live subscription that sees an event sent from a second connection.

    python3 -m takt_client.example --port 7411
"""
from __future__ import annotations

import argparse
import threading
import time

from . import Client, TaktError, make_event, result_code_name


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=7411)
    ap.add_argument("--site", default="example")
    args = ap.parse_args(argv)

    with Client(args.host, args.port, client_name="takt-example") as c:
        print("server:", c.server_hello.server_name, "health:", c.health())
        now = int(time.time() * 1000)
        t0 = now - 3_600_000
        events = [
            make_event(t0, "W1", "S1", "working", 0.93, site_id=args.site),
            make_event(t0 + 120_000, "W1", "S1", "product_count", 0.91, count=3, site_id=args.site),
            make_event(t0 + 300_000, "W1", "S1", "idle", 0.88, site_id=args.site),
            make_event(t0 + 300_000, "W1", "S1", "idle", 0.88, site_id=args.site),  # duplicate
            make_event(t0 + 400_000, "", "S1", "idle", 0.88, site_id=args.site),  # invalid: no worker_id
        ]
        ack = c.submit_batch(events)
        print("codes:", [result_code_name(x) for x in ack.codes])
        for r in ack.rejections:
            print(f"  event {r.index}: {result_code_name(r.code)} {r.message}")

        for w in c.worker_metrics(from_ms=t0, to_ms=now, site_id=args.site):
            print(f"worker {w.worker_id}: working {w.working_ms} ms, idle {w.idle_ms} ms, "
                  f"utilization {w.utilization_pct:.1f}%, units {w.units}")
        f = c.factory_metrics(from_ms=t0, to_ms=now, site_id=args.site)
        print(f"factory: {f.active_workers} active workers, {f.total_units} units")

        try:
            c.query_metrics("workers", from_ms=now, to_ms=now - 1)
        except TaktError as e:
            print("as expected:", e.code.name, "-", e.message)

        # Live subscription: an event sent from another connection arrives on the stream.
        with c.subscribe(site_id=args.site) as sub:
            def send_later():
                time.sleep(0.2)
                with Client(args.host, args.port) as other:
                    other.submit_event(make_event(int(time.time() * 1000), "W2", "S2", "working", 0.95, site_id=args.site))
            threading.Thread(target=send_later).start()
            msg = sub.next(timeout=5)
            for e in msg.events:
                print(f"live: {e.event.worker_id}@{e.event.workstation_id} kind={e.event.kind} seq={e.sequence}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
