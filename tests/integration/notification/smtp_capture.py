"""A real SMTP server for cc-notify's tests: aiosmtpd (Debian's
python3-aiosmtpd, run by /usr/bin/python3) on HOST:PORT, saving every
message it accepts as DIR/<time>-<pid>-<n>.eml (the envelope recipients
first, as an X-Rcpt: line, then the message as received). Each file is
written under a temporary name and renamed, so a reader never sees half a
message. Runs until SIGTERM or SIGINT.

usage: /usr/bin/python3 smtp_capture.py HOST PORT DIR
"""
import asyncio
import os
import signal
import sys
import time

from aiosmtpd.smtp import SMTP


class Save:
    def __init__(self, folder):
        self.folder = folder
        self.n = 0

    async def handle_DATA(self, server, session, envelope):
        self.n += 1
        name = "%d-%d-%04d" % (time.time_ns(), os.getpid(), self.n)
        tmp = os.path.join(self.folder, "." + name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(b"X-Rcpt: " + ",".join(envelope.rcpt_tos).encode() + b"\r\n")
            data = envelope.original_content or envelope.content
            if isinstance(data, str):
                data = data.encode()
            f.write(data)
        os.rename(tmp, os.path.join(self.folder, name + ".eml"))
        return "250 OK"


async def main(host, port, folder):
    loop = asyncio.get_running_loop()
    handler = Save(folder)
    server = await loop.create_server(
        lambda: SMTP(handler, decode_data=False, hostname="localhost"), host, port,
        reuse_address=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("listening on %s:%d" % (host, port), flush=True)
    await stop.wait()
    server.close()
    await server.wait_closed()


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
