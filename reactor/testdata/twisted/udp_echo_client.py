"""A Twisted DatagramProtocol client for Mustaine's UDP interop tests: it
sends COUNT datagrams of random sizes (4 to 1,400 bytes: a 4-byte sequence
number and random bytes) to a UDP echo server, at most WINDOW outstanding,
and checks that every one comes back intact. UDP may lose datagrams, even
on loopback, so a datagram not echoed within RETRY seconds is sent again;
duplicates are ignored. Exit status 0 means every datagram was echoed
intact. Usage: udp_echo_client.py HOST PORT [COUNT]"""
import os
import random
import struct
import sys

from twisted.internet import reactor, task
from twisted.internet.protocol import DatagramProtocol

WINDOW = 64
RETRY = 0.2
MAX_SIZE = 1400


class Checker(DatagramProtocol):
    def __init__(self, addr, count):
        self.addr = addr
        self.count = count
        rng = random.Random(14)
        self.payloads = []
        for seq in range(count):
            size = rng.randint(4, MAX_SIZE)
            self.payloads.append(struct.pack(">I", seq) + os.urandom(size - 4))
        self.next = 0
        self.outstanding = {}  # seq -> time sent
        self.echoed = 0
        self.done = [False] * count
        self.bad = 0
        self.resent = 0

    def startProtocol(self):
        self.fill()
        self.retry = task.LoopingCall(self.retransmit)
        self.retry.start(RETRY, now=False)

    def fill(self):
        while len(self.outstanding) < WINDOW and self.next < self.count:
            self.send(self.next)
            self.next += 1

    def send(self, seq):
        self.outstanding[seq] = reactor.seconds()
        self.transport.write(self.payloads[seq], self.addr)

    def datagramReceived(self, data, addr):
        if addr != self.addr or len(data) < 4:
            self.bad += 1
            return
        (seq,) = struct.unpack(">I", data[:4])
        if seq >= self.count or data != self.payloads[seq]:
            self.bad += 1
            print("datagram %d differs" % seq, file=sys.stderr)
            return
        if self.done[seq]:
            return  # a duplicate from a retransmission
        self.done[seq] = True
        self.outstanding.pop(seq, None)
        self.echoed += 1
        if self.echoed == self.count:
            self.retry.stop()
            reactor.stop()
            return
        self.fill()

    def retransmit(self):
        now = reactor.seconds()
        for seq, sent in list(self.outstanding.items()):
            if now - sent >= RETRY:
                self.resent += 1
                self.send(seq)


host, port = sys.argv[1], int(sys.argv[2])
count = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
checker = Checker((host, port), count)
reactor.listenUDP(0, checker, interface="127.0.0.1")
reactor.callLater(100, reactor.stop)
reactor.run()
print("datagrams echoed: %d of %d, bad: %d, retransmitted: %d"
      % (checker.echoed, count, checker.bad, checker.resent))
sys.exit(0 if checker.echoed == count and checker.bad == 0 else 1)
