"""A Twisted client for Mustaine's interop test: it sends lines of random
sizes to an echo server, checks that every line comes back intact and in
order, then closes. Exit status 0 means every line matched."""
import random
import sys

from twisted.internet import reactor, protocol
from twisted.protocols.basic import LineReceiver

LINES = 500


class Checker(LineReceiver):
    MAX_LENGTH = 1 << 20

    def connectionMade(self):
        rng = random.Random(7)
        self.expected = []
        for i in range(LINES):
            line = ("%d:" % i + "x" * rng.randrange(0, 20000)).encode()
            self.expected.append(line)
        # One big write: the server sees arbitrary chunk boundaries.
        self.transport.write(b"".join(l + b"\r\n" for l in self.expected))
        self.got = 0

    def lineReceived(self, line):
        if line != self.expected[self.got]:
            print("line %d differs" % self.got, file=sys.stderr)
            reactor.stop()
            sys.exit(1)
        self.got += 1
        if self.got == LINES:
            self.transport.loseConnection()

    def connectionLost(self, reason):
        factory.result = self.got


class Factory(protocol.ClientFactory):
    protocol = Checker
    result = -1

    def clientConnectionLost(self, connector, reason):
        reactor.stop()

    def clientConnectionFailed(self, connector, reason):
        print("connect failed:", reason.getErrorMessage(), file=sys.stderr)
        reactor.stop()


factory = Factory()
host, port = sys.argv[1], int(sys.argv[2])
reactor.connectTCP(host, port, factory, timeout=10)
reactor.callLater(60, reactor.stop)
reactor.run()
print("lines echoed:", factory.result)
sys.exit(0 if factory.result == LINES else 1)
