"""A DNS server on 127.0.0.1 that answers every A query with 127.0.0.1 after
a delay: the slow resolver a guest's lookups must not pile up on.

Usage: slow_dns.py DELAY_MS. Prints "listening PORT" (it binds port 0), then
one line per query as it starts and ends: "start NAME" / "end NAME".
"""

import asyncio
import sys

from dnslib import QTYPE, RR, A, DNSRecord


class SlowDns(asyncio.DatagramProtocol):
    def __init__(self, delay):
        self.delay = delay

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, peer):
        asyncio.get_running_loop().create_task(self.answer(data, peer))

    async def answer(self, data, peer):
        query = DNSRecord.parse(data)
        name = str(query.q.qname)
        print("start", name, flush=True)
        await asyncio.sleep(self.delay)
        reply = query.reply()
        if query.q.qtype == QTYPE.A:
            reply.add_answer(RR(query.q.qname, QTYPE.A, rdata=A("127.0.0.1"), ttl=0))
        print("end", name, flush=True)
        self.transport.sendto(reply.pack(), peer)


async def main():
    delay = int(sys.argv[1]) / 1000
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: SlowDns(delay), local_addr=("127.0.0.1", 0)
    )
    print("listening", transport.get_extra_info("sockname")[1], flush=True)
    await asyncio.Event().wait()


asyncio.run(main())
