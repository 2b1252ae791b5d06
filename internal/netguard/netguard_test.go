package netguard_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/internal/netguard"
)

func TestForbidden(t *testing.T) {
	t.Parallel()
	for _, a := range []string{"127.0.0.1", "127.8.9.10", "::1", "10.0.0.1", "10.255.255.255", "172.16.0.1", "192.168.1.1",
		"169.254.169.254", "169.254.0.1", "fe80::1", "fc00::1", "0.0.0.0", "::", "100.64.0.1", "224.0.0.1", "::ffff:127.0.0.1", "::ffff:10.0.0.1"} {
		require.True(t, netguard.Forbidden(netip.MustParseAddr(a)), a)
	}
	for _, a := range []string{"8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700::1111", "172.32.0.1", "100.128.0.1"} {
		require.False(t, netguard.Forbidden(netip.MustParseAddr(a)), a)
	}
}

// The guard refuses the dialled address itself: a literal loopback IP, and a hostname
// that resolves to loopback, are both refused; allowing internal targets lets them through.
func TestClientRefusesInternalTargets(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("internal secret")) }))
	t.Cleanup(srv.Close)
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	require.NoError(t, err)

	c := netguard.Client(netguard.Options{})
	for _, u := range []string{srv.URL, "http://localhost:" + port, "http://[::1]:" + port} {
		_, err := c.Get(u)
		require.Error(t, err, u)
		require.True(t, errors.Is(err, netguard.ErrForbidden), "%s: %v", u, err)
	}
	for _, u := range []string{"http://10.0.0.1:9/", "http://169.254.169.254/latest/meta-data/"} {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		_, err := c.Do(req)
		cancel()
		require.ErrorIs(t, err, netguard.ErrForbidden, u)
	}

	allowed := netguard.Client(netguard.Options{AllowInternal: true})
	resp, err := allowed.Get(srv.URL)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}
