package reactor

type dialState struct{}

func (ds *dialState) lost(error)          {}
func (l *loop) finishDial(c *conn)        {}
func (l *loop) failDial(c *conn, r error) {}
