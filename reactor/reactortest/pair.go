package reactortest

import (
	"net"

	"github.com/mustaine/mustaine/protocol"
)

// Addresses of the two ends of a Pair.
var (
	ServerAddr net.Addr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}
	ClientAddr net.Addr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 54321}
)

// Pair is a server protocol and a client protocol connected in memory, as
// by Twisted's iosim.connectedServerAndClient. Nothing moves by itself:
// Pump hands each side's output to the other side's DataReceived, and
// carries closes across:
//
//   - after LoseConnection, once the output has been delivered, the side's
//     protocol gets ConnectionLost(protocol.ErrConnectionDone) and the
//     peer's gets ReadConnectionLost if it implements protocol.HalfCloseable,
//     else ConnectionLost(protocol.ErrPeerClosed);
//   - after AbortConnection, the side's protocol gets
//     ConnectionLost(protocol.ErrAborted) on the next turn of the loop and
//     the peer's gets ConnectionLost(protocol.ErrPeerReset) at the next Pump;
//     undelivered output is lost;
//   - after CloseWrite, once the output has been delivered, the side's
//     protocol gets WriteConnectionLost if it implements
//     protocol.WriteHalfCloseable, and the peer learns of it as of a close;
//     a peer that is not HalfCloseable then closes, and both sides get
//     ConnectionLost(protocol.ErrPeerClosed).
//
// A side whose reading is paused receives nothing until it resumes; its
// peer's output (and a pending close) waits.
type Pair struct {
	// Server and Client are the two transports.
	Server, Client *Transport
	// Loop is the loop both sides share.
	Loop *Loop
}

// ConnectedPair connects server and client on a new Loop: server's
// ConnectionMade is called first, then client's. The server's transport
// has LocalAddr ServerAddr and RemoteAddr ClientAddr, the client's the
// reverse.
func ConnectedPair(server, client protocol.Protocol) *Pair {
	return connectedPairOn(NewLoop(), server, client, ServerAddr)
}

// connectedPairOn is ConnectedPair on the loop l, with the server at
// serverAddr.
func connectedPairOn(l *Loop, server, client protocol.Protocol, serverAddr net.Addr) *Pair {
	p := &Pair{Loop: l}
	p.Server = NewTransport(WithLoop(l), WithLocalAddr(serverAddr), WithRemoteAddr(ClientAddr))
	p.Client = NewTransport(WithLoop(l), WithLocalAddr(ClientAddr), WithRemoteAddr(serverAddr))
	p.Server.proto, p.Server.pair, p.Server.peer = server, p, p.Client
	p.Client.proto, p.Client.pair, p.Client.peer = client, p, p.Server
	server.ConnectionMade(p.Server)
	client.ConnectionMade(p.Client)
	return p
}

// Pump delivers what each side has written to the other, server's output
// first, and carries closes across as described at Pair. It reports whether
// anything happened.
func (p *Pair) Pump() bool {
	a := p.transfer(p.Server, p.Client)
	b := p.transfer(p.Client, p.Server)
	return a || b
}

// Flush pumps and runs the loop's pending calls (Loop.RunPending) until
// neither has anything left to do, or at most 10000 rounds.
func (p *Pair) Flush() {
	for range maxTurns {
		moved := p.Pump()
		if p.Loop.RunPending() == 0 && !moved {
			return
		}
	}
}

// transfer moves from's output to to and carries from's close across.
func (p *Pair) transfer(from, to *Transport) bool {
	if from.aborted {
		if from.peerNotified {
			return false
		}
		from.peerNotified = true
		to.connectionLost(protocol.ErrPeerReset)
		return true
	}
	if to.readPaused && !to.lost {
		return false // everything from this side waits, close included
	}
	moved := false
	if len(from.out) > 0 {
		switch {
		case to.lost || to.aborted:
			from.out = from.out[:0] // the peer is gone; nothing reads this
		default:
			data := from.out
			from.out = nil
			to.proto.DataReceived(data)
			moved = true
		}
	}
	if from.lost {
		return moved
	}
	if len(from.out) == 0 {
		before := from.BufferedAmount()
		from.drained()
		moved = moved || from.BufferedAmount() != before
	}
	if len(from.out) > 0 {
		return moved
	}
	switch {
	case from.disconnecting:
		from.connectionLost(protocol.ErrConnectionDone)
		peerClosed(to)
		return true
	case from.writeClosed && !from.writeNotified:
		from.notifyWriteClosed()
		peerClosed(to)
		return true
	}
	return moved
}

// peerClosed tells t's protocol that the peer will send nothing more.
func peerClosed(t *Transport) {
	if t.lost || t.readEOF {
		return
	}
	if h, ok := t.proto.(protocol.HalfCloseable); ok {
		t.readEOF = true
		h.ReadConnectionLost()
		return
	}
	// Without half-close support the reactor closes on EOF, and the peer
	// then reads EOF in turn.
	peer := t.peer
	t.connectionLost(protocol.ErrPeerClosed)
	if peer != nil && !peer.lost && peer.writeClosed {
		peer.connectionLost(protocol.ErrPeerClosed)
	}
}
