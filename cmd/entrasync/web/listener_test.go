package web_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/entrasync/entrasync/cmd/entrasync/web"
)

// serveLimited serves a tiny handler on 127.0.0.1 through the listener's
// limits (cap connections at once, idle as the idle timeout).
func serveLimited(t *testing.T, cap int, idle time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := web.HTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }), nil)
	srv.IdleTimeout = idle
	go func() { _ = srv.Serve(web.LimitListener(ln, cap)) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// keepAlive opens a connection and makes one keep-alive request on it; it
// reports whether the server answered.
func keepAlive(t *testing.T, addr string) (net.Conn, bool) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return c, false
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return c, false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	_ = c.SetDeadline(time.Time{})
	return c, resp.StatusCode == 200
}

// closedByServer reports whether the server closes c within wait.
func closedByServer(c net.Conn, wait time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(wait))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// TestListenerRefusesConnectionsBeyondTheCap: with two connections held
// open, a third is closed at once; once one of the two goes, a new one is
// served.
func TestListenerRefusesConnectionsBeyondTheCap(t *testing.T) {
	addr := serveLimited(t, 2, time.Minute)
	a, okA := keepAlive(t, addr)
	_, okB := keepAlive(t, addr)
	if !okA || !okB {
		t.Fatal("the first two connections were not served")
	}
	if _, ok := keepAlive(t, addr); ok {
		t.Fatal("a third connection was served beyond the cap of 2")
	}
	_ = a.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, ok := keepAlive(t, addr); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no connection was served after one of the two closed")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestListenerClosesIdleConnections: a keep-alive connection that sends
// nothing more is closed after the idle timeout.
func TestListenerClosesIdleConnections(t *testing.T) {
	addr := serveLimited(t, 10, 200*time.Millisecond)
	c, ok := keepAlive(t, addr)
	if !ok {
		t.Fatal("the connection was not served")
	}
	if !closedByServer(c, 3*time.Second) {
		t.Fatal("an idle keep-alive connection stayed open past the idle timeout")
	}
}
