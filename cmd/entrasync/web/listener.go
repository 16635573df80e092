package web

import (
	"log"
	"net"
	"net/http"
	gosync "sync"
	"time"
)

// Limits of the listener `entrasync run` serves on. There is no write
// timeout: a cycle started through the API answers when it ends, which for
// a large tenant takes minutes (and a client that goes away does not stop
// it, see sync.Owned).
const (
	// MaxConnections is how many connections are served at once; one more
	// is closed as soon as it is accepted.
	MaxConnections = 256
	// IdleTimeout closes a keep-alive connection that sends nothing.
	IdleTimeout = 2 * time.Minute
	// ReadHeaderTimeout and ReadTimeout bound how long a client may take to
	// send a request's headers, and the whole request.
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = time.Minute
	// MaxHeaderBytes bounds a request's headers.
	MaxHeaderBytes = 64 << 10
)

// HTTPServer returns an http.Server for handler with the limits above;
// errorLog receives the server's own complaints (nil: the log package's).
func HTTPServer(handler http.Handler, errorLog *log.Logger) *http.Server {
	return &http.Server{Handler: handler, ReadHeaderTimeout: ReadHeaderTimeout, ReadTimeout: ReadTimeout,
		IdleTimeout: IdleTimeout, MaxHeaderBytes: MaxHeaderBytes, ErrorLog: errorLog}
}

// LimitListener returns ln serving at most n connections at once: a
// connection accepted beyond that is closed at once, so a flood of idle or
// slow clients cannot take every goroutine and file descriptor.
func LimitListener(ln net.Listener, n int) net.Listener {
	return &limitListener{Listener: ln, slots: make(chan struct{}, n)}
}

type limitListener struct {
	net.Listener
	slots chan struct{}
}

// Accept returns the next connection within the limit, closing those beyond
// it.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &slotConn{Conn: c, free: func() { <-l.slots }}, nil
		default:
			_ = c.Close()
		}
	}
}

// slotConn gives its slot back once, when closed.
type slotConn struct {
	net.Conn
	once gosync.Once
	free func()
}

// Close closes the connection and frees its slot.
func (c *slotConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.free)
	return err
}
