// Package amp implements Twisted's Asynchronous Messaging Protocol
// (twisted.protocols.amp), wire-compatible with Twisted: either side of a
// connection may call the other's commands, many calls may be outstanding
// at once, and answers come back in any order, matched by tag.
//
// # Boxes
//
// Everything on the wire is a box: pairs of a 16-bit big-endian key length
// and key (1 to 255 bytes) and a 16-bit value length and value (up to
// 65,535 bytes), ended by a zero key length. A request carries _command
// and, when it wants an answer, _ask (a tag; Twisted writes a hexadecimal
// counter, as this package does); the answer carries _answer with the same
// tag, an error carries _error, _error_code and _error_description. Keys
// may come in any order.
//
// # Commands
//
// A Command[Req, Resp] names a command and declares its errors; Req and
// Resp are structs whose `amp` tags name the keys, and whose Go types pick
// Twisted's argument types (see Encode). Call sends a command and returns
// a *deferred.Deferred[Resp]; Respond and RespondDeferred register the
// responders a Protocol answers with.
//
// A Respond responder answers on the loop, at once: its response is
// encoded straight into the connection's output, with no Deferred and no
// intermediate Box, so a call costs the server five allocations (the
// request box's three, the decoded arguments, the response). Over one
// connection with 64 calls outstanding that is about a tenth of the CPU
// per call of Go's net/rpc (go run ./bench amp).
//
// # Errors, as Twisted handles them
//
//   - A responder error that matches one of the command's ErrorCodes is
//     sent with its code and its Error() as the description; the caller's
//     Deferred fails with a *RemoteError that matches the same sentinel
//     with errors.Is. A Fatal one closes the connection after it is sent.
//   - Any other error, a panic, or a request whose arguments do not decode
//     answers UNKNOWN ("Unknown Error") and then closes the connection, as
//     Twisted's QuitBox does; the caller sees ErrUnknownRemote.
//   - A command without responder answers UNHANDLED and the connection
//     stays; the caller sees ErrUnhandledCommand. Sent without _ask, an
//     unknown command or a failing responder closes the connection (Twisted
//     drops the connection on such unhandled errors too).
//   - A response whose encoding does not fit (a value over 65,535 bytes,
//     which the 16-bit length cannot carry) is an undeclared error too.
//   - A malformed box (a key length over 255, a box without _command,
//     _answer or _error) or an answer to a tag never asked closes the
//     connection, with the reason logged.
//
// # Bounds, loss, cancellation
//
// A connection works on at most WithMaxOutstanding requests from its peer
// at once: at the limit it stops reading (Transport.PauseReading) and reads
// again as answers go out, so a flooding peer is held back by TCP. Requests
// sent without _ask are not counted: their responders should finish at
// once. When
// the connection is lost every pending call fails with the loss reason.
// Cancelling a call's Deferred forgets it (its late answer is dropped
// instead of closing the connection), and AddTimeout on it times it out.
//
// A Protocol belongs to its connection's loop, like every protocol: call
// Call from that loop (from elsewhere through Loop().CallFromThread).
package amp
