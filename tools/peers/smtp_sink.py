"""A real SMTP server for Rapport's outbound tests (aiosmtpd from PyPI).

    python smtp_sink.py PORT OUTDIR [FAIL_FIRST]

Listens on 127.0.0.1:PORT, writes each accepted message to OUTDIR/NNN.eml (the envelope in
OUTDIR/NNN.json), answers the first FAIL_FIRST deliveries with a transient 451 error, prints
READY once listening, and stops when its standard input closes.
"""
import json
import os
import sys
import threading

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, outdir, fail_first):
        self.outdir = outdir
        self.fail_first = fail_first
        self.seen = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.seen += 1
            attempt = self.seen
        if attempt <= self.fail_first:
            return "451 4.3.0 temporarily unable to accept mail, try again later"
        name = os.path.join(self.outdir, f"{attempt:03d}")
        with open(name + ".eml", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        with open(name + ".json", "w") as f:
            json.dump({"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos}, f)
        return "250 2.0.0 queued as " + os.path.basename(name)


def main():
    port, outdir = int(sys.argv[1]), sys.argv[2]
    fail_first = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    os.makedirs(outdir, exist_ok=True)
    controller = Controller(Sink(outdir, fail_first), hostname="127.0.0.1", port=port)
    controller.start()
    print("READY", flush=True)
    try:
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
