// Package netguard keeps outbound HTTP requests made on a tenant's behalf (the worker's
// http_fetch tool) away from the platform's own network: loopback, private, link-local
// (cloud metadata at 169.254.169.254 included), unspecified, multicast and carrier-grade
// NAT addresses are refused unless explicitly allowed. The check runs on the address
// actually dialled, after DNS resolution, so a hostname that resolves to a forbidden
// address (or is rebound to one) is refused too.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// ErrForbidden is returned for a destination the guard refuses.
var ErrForbidden = errors.New("destination address not allowed")

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// Forbidden reports whether addr is an internal address the guard refuses.
func Forbidden(addr netip.Addr) bool {
	addr = addr.Unmap()
	return !addr.IsValid() || addr.IsLoopback() || addr.IsPrivate() || addr.IsLinkLocalUnicast() ||
		addr.IsLinkLocalMulticast() || addr.IsInterfaceLocalMulticast() || addr.IsMulticast() ||
		addr.IsUnspecified() || cgnat.Contains(addr)
}

// Options tune the guarded client.
type Options struct {
	// AllowInternal lets requests reach internal addresses (a policy decision).
	AllowInternal bool
	// Timeout bounds a whole request.
	Timeout time.Duration
}

// Dialer returns a dialer whose connections to forbidden addresses fail with
// ErrForbidden, checked on the resolved address of every connection attempt.
func Dialer(o Options) *net.Dialer {
	return &net.Dialer{
		Timeout: 10 * time.Second,
		Control: func(network, address string, _ syscall.RawConn) error {
			if o.AllowInternal {
				return nil
			}
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: %s", ErrForbidden, address)
			}
			if Forbidden(ap.Addr()) {
				return fmt.Errorf("%w: %s", ErrForbidden, ap.Addr())
			}
			return nil
		},
	}
}

// Client returns an HTTP client that refuses forbidden destinations, including after
// redirects, and ignores proxy settings (a proxy would hide the real destination).
func Client(o Options) *http.Client {
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	d := Dialer(o)
	return &http.Client{
		Timeout: o.Timeout,
		Transport: &http.Transport{
			Proxy: nil,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return d.DialContext(ctx, network, addr)
			},
			TLSHandshakeTimeout: 10 * time.Second,
			MaxIdleConns:        16,
			IdleConnTimeout:     30 * time.Second,
		},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("stopped after 5 redirects")
			}
			return nil
		},
	}
}
