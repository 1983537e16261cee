"""A Twisted DatagramProtocol echo server for Mustaine's UDP interop test: it
prints its port, echoes every datagram to its sender, and stops after a
minute or on SIGTERM."""
import sys

from twisted.internet import reactor
from twisted.internet.protocol import DatagramProtocol


class Echo(DatagramProtocol):
    def datagramReceived(self, data, addr):
        self.transport.write(data, addr)


port = reactor.listenUDP(0, Echo(), interface="127.0.0.1")
print(port.getHost().port, flush=True)
reactor.callLater(60, reactor.stop)
reactor.run()
