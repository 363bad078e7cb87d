package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// errRemoteTarget is returned for a target that is not a loopback address when -allow-remote is not given.
var errRemoteTarget = errors.New("target is not a loopback address (127.0.0.0/8, ::1, localhost); " +
	"loadgen only loads servers on this machine unless -allow-remote is given")

// parseTarget checks the -url flag: an http or https URL with a host and no query. Unless allowRemote is set the
// host must be a loopback IP or the name localhost; nothing is resolved to decide.
func parseTarget(raw string, allowRemote bool) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("-url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("-url %q: scheme must be http or https", raw)
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("-url %q: missing host", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("-url %q: must be a base URL without user info, query or fragment", raw)
	}
	if !allowRemote && !isLoopbackHost(u.Hostname()) {
		return nil, fmt.Errorf("-url %q: %w", raw, errRemoteTarget)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	return u, nil
}

// isLoopbackHost reports whether host is the name localhost or a loopback IP literal.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// loopbackOnly is a net.Dialer Control function that refuses to connect anywhere but a loopback address. It
// backs up parseTarget: "localhost" could resolve elsewhere through a hosts file.
func loopbackOnly(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("dial %s: %w", address, err)
	}
	if !isLoopbackHost(host) {
		return fmt.Errorf("dial %s: %w", address, errRemoteTarget)
	}
	return nil
}

// newHTTPClient returns a client tuned for load: keep-alive with one idle connection per client, no proxy
// (a proxy would be the thing measured, and could be remote), no redirects, and a dialer that only reaches
// loopback addresses unless allowRemote is set. Per-request timeouts come from the request context.
func newHTTPClient(clients int, allowRemote bool) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	if !allowRemote {
		d.Control = loopbackOnly
	}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           d.DialContext,
			MaxIdleConns:          clients,
			MaxIdleConnsPerHost:   clients,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   5 * time.Second,
			ExpectContinueTimeout: time.Second,
			DisableCompression:    true,
			ForceAttemptHTTP2:     false,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
